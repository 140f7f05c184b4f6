//! Background work never dies silently: a panic in the driver, a source or a hook is caught,
//! logged, counted in `stats().background_failures`, and the work resumes.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, version_of};
use keyswap::{
    BoxFuture, ChangeNotifier, Changes, Client, Credential, CredentialSource, Error, Source,
};

/// A source with a change signal whose `poll_interval` (asked by the driver on every turn)
/// panics the first `panics` times: it kills the driver loop on purpose.
#[derive(Clone)]
struct Sabotaged {
    key: Arc<Mutex<String>>,
    notifier: Arc<Mutex<Option<ChangeNotifier>>>,
    poll_calls: Arc<AtomicUsize>,
    panics: usize,
    load_panics: Arc<AtomicUsize>,
}

impl Sabotaged {
    fn new(key: &str, panics: usize) -> Self {
        Sabotaged {
            key: Arc::new(Mutex::new(key.into())),
            notifier: Arc::default(),
            poll_calls: Arc::default(),
            panics,
            load_panics: Arc::default(),
        }
    }

    fn rotate(&self, key: &str) {
        *self.key.lock().unwrap() = key.into();
        if let Some(n) = &*self.notifier.lock().unwrap() {
            n.notify();
        }
    }
}

impl CredentialSource for Sabotaged {
    fn name(&self) -> String {
        "sabotaged".into()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            if self.load_panics.load(Ordering::SeqCst) > 0 {
                self.load_panics.fetch_sub(1, Ordering::SeqCst);
                panic!("a bug in the source");
            }
            Ok(Credential::new(self.key.lock().unwrap().clone()))
        })
    }

    fn changes(&self) -> Option<Changes> {
        let (notifier, changes) = keyswap::changes();
        *self.notifier.lock().unwrap() = Some(notifier);
        Some(changes)
    }

    fn poll_interval(&self) -> Option<Duration> {
        let n = self.poll_calls.fetch_add(1, Ordering::SeqCst);
        // Call 0 is at build time; the driver's own calls start at 1.
        if n >= 1 && n <= self.panics {
            panic!("driver killed on purpose");
        }
        None
    }
}

#[tokio::test]
async fn a_killed_driver_is_restarted_and_the_next_rotation_arrives() {
    let source = Sabotaged::new("k1", 1);
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .build()
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || client
            .stats()
            .background_failures
            == 1)
        .await,
        "the panic is caught and counted"
    );
    // The restarted driver re-subscribed (a new notifier) and follows the next rotation.
    assert!(
        eventually(Duration::from_secs(3), || source
            .poll_calls
            .load(Ordering::SeqCst)
            >= 3)
        .await
    );
    source.rotate("k2");
    assert!(
        eventually(Duration::from_secs(3), || client.credential_version()
            == version_of("k2"))
        .await,
        "rotation after the restart"
    );
    assert_eq!(client.stats().rotations, 1);
}

#[tokio::test]
async fn a_driver_that_keeps_dying_backs_off_instead_of_spinning() {
    let source = Sabotaged::new("k1", usize::MAX);
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let restarts = client.stats().background_failures;
    // 100 ms, 200 ms, 400 ms (with jitter up to twice that): a handful, not thousands.
    assert!((1..=6).contains(&restarts), "{restarts}");
}

#[tokio::test]
async fn a_panicking_load_is_a_source_error_and_the_watch_goes_on() {
    let source = Sabotaged::new("k1", 0);
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .build()
        .await
        .unwrap();
    source.load_panics.store(1, Ordering::SeqCst);
    let err = client.refresh().await.unwrap_err();
    assert!(
        err.is_source() && err.to_string().contains("panicked"),
        "{err}"
    );
    let stats = client.stats();
    assert_eq!((stats.source_errors, stats.background_failures), (1, 1));
    source.rotate("k2");
    assert!(
        eventually(Duration::from_secs(3), || client.credential_version()
            == version_of("k2"))
        .await
    );
}

#[tokio::test]
async fn a_panicking_hook_is_caught_and_later_hooks_and_rotations_still_run() {
    let source = Sabotaged::new("k1", 0);
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .on_rotate(|_| panic!("a bug in the hook"))
        .on_rotate(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .await
        .unwrap();
    source.rotate("k2");
    assert!(eventually(Duration::from_secs(3), || seen.load(Ordering::SeqCst) == 1).await);
    source.rotate("k3");
    assert!(eventually(Duration::from_secs(3), || seen.load(Ordering::SeqCst) == 2).await);
    assert_eq!(client.credential_version(), version_of("k3"));
    assert_eq!(client.stats().background_failures, 2);
}

/// The shared poll ticker of a file outlives the runtime of the client that started it: a
/// second client of the same file, on another runtime, is told not to poll on its own (one
/// ticker per file) and must still see changes after the first runtime is gone.
#[test]
fn a_file_poll_ticker_outlives_the_runtime_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k0").unwrap();
    // Polling only (no directory watch): the ticker is the only way a change is seen.
    let source = || {
        Source::file(&path)
            .watch(false)
            .poll_interval(Some(Duration::from_millis(50)))
    };
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first_rt = runtime();
    let first = first_rt.block_on(async { Client::builder().source(source()).build().await });
    let first = first.unwrap();
    let second_rt = runtime();
    let second = second_rt
        .block_on(async { Client::builder().source(source()).build().await })
        .unwrap();
    // The first client stays alive (and with it the shared file state); its runtime does not.
    drop(first_rt);
    common::write_atomic(&path, b"k1");
    let seen = second_rt.block_on(eventually(Duration::from_secs(3), || {
        second.credential_version() == version_of("k1")
    }));
    assert!(seen, "the second client never saw the change by polling");
    drop(first);
}
