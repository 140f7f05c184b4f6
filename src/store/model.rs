//! Model check of the store's bookkeeping under every interleaving of the threads that touch it
//! (loom; run by `scripts/model-check.sh`). Each thread plays one caller as the engine calls
//! the store: a request path that reads lock-free and reports acceptances only when
//! [`Store::attends`] says so, a recover path that records a rejection and asks for a rotation
//! wait, a refresh that offers a new credential.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use loom::thread;

use super::{Etiquette, Offered, Store};
use crate::credential::{Credential, RefreshWindows};
use crate::stats::Counters;
use crate::time::Time;

const WAIT: Duration = Duration::from_secs(1);

fn store(first: Credential) -> Arc<Store> {
    let etiquette = Etiquette {
        overlap: Duration::from_secs(60),
        hold: Duration::from_secs(10),
        probe_every: Duration::from_millis(200),
    };
    Arc::new(Store::new(
        first,
        etiquette,
        vec![],
        "model".into(),
        Time::default(),
    ))
}

/// A store holding the key `key`, and its fingerprint.
fn store_of(key: &str) -> (u64, Arc<Store>) {
    (
        Credential::new(key).fingerprint(),
        store(Credential::new(key)),
    )
}

/// Runs `f` on a thread of the model with its own handle on the store.
fn on_thread<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let store = Arc::clone(store);
    thread::spawn(move || f(&store))
}

/// The request path after an accepted answer (request_path.rs): one relaxed flag read, and a
/// report only when it names this credential.
fn request_accepted(store: &Store, fingerprint: u64, sent: Instant) {
    if store.attends(fingerprint) {
        store.accepted(fingerprint, sent);
    }
}

/// The flag the request path reads is the one the locked state implies, once writers are done.
fn assert_settled(store: &Store) {
    let state = store.state();
    assert_eq!(
        store.attention.load(Ordering::Relaxed),
        state.attention(),
        "attention flag out of step with the state"
    );
    assert_eq!(
        store.holding.load(Ordering::Relaxed),
        state.hold.is_some(),
        "holding flag out of step with the state"
    );
    let active = store.active.load_full();
    assert_eq!(
        store.windowed.load(Ordering::Relaxed),
        active.refresh_windows().is_some(),
        "windowed flag out of step with the active credential"
    );
    if state.hold.is_none() {
        assert_eq!(active.fingerprint(), state.newest.fingerprint());
    }
}

#[test]
fn a_key_accepted_after_a_refusal_is_clean_again() {
    loom::model(|| {
        let (a, store) = store_of("a");
        let refused_at = Instant::now();
        let sent_after = refused_at + Duration::from_millis(1);
        let refusal = on_thread(&store, move |store| {
            store.rejected(a, refused_at);
            store.rotation_wait(a, WAIT);
        });
        let acceptance = on_thread(&store, move |store| request_accepted(store, a, sent_after));
        refusal.join().unwrap();
        acceptance.join().unwrap();
        assert_settled(&store);
        // Whatever the order, the request path is told there is something to clear while there
        // is, and the next acceptance sent after everything clears it all.
        assert_eq!(
            store.attends(a),
            store.active_rejected() || store.state().wait.is_some()
        );
        request_accepted(&store, a, Instant::now());
        assert!(!store.active_rejected(), "a good key again");
        assert!(!store.attends(a), "nothing left to clear");
        assert!(
            store.rotation_wait(a, WAIT).1,
            "a later refusal is granted a wait of its own"
        );
        assert_settled(&store);
    });
}

#[test]
fn a_recovered_acceptance_racing_a_refusal_leaves_the_flags_in_step() {
    loom::model(|| {
        let (a, store) = store_of("a");
        let refused_at = Instant::now();
        let refusal = on_thread(&store, move |store| store.rejected(a, refused_at));
        // The recover path reports its retry's acceptance without asking `attends`.
        let later = refused_at + Duration::from_millis(1);
        let acceptance = on_thread(&store, move |store| store.accepted(a, later));
        refusal.join().unwrap();
        acceptance.join().unwrap();
        assert_settled(&store);
        assert_eq!(store.attends(a), store.active_rejected());
    });
}

#[test]
fn requests_refused_together_share_one_rotation_wait() {
    loom::model(|| {
        let (a, store) = store_of("a");
        let refused = move |store: &Store| {
            store.rejected(a, Instant::now());
            store.rotation_wait(a, WAIT)
        };
        let first = on_thread(&store, refused);
        let second = on_thread(&store, refused);
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!(first.0, second.0, "one deadline for the episode");
        assert!(first.1 ^ second.1, "exactly one of them granted it");
        assert!(store.active_rejected());
        assert!(store.attends(a));
        assert_settled(&store);
    });
}

#[test]
fn a_rotation_racing_a_refusal_and_a_reader() {
    loom::model(|| {
        let (a, b) = (Credential::new("a"), windowed("b"));
        let (fa, fb) = (a.fingerprint(), b.fingerprint());
        let store = store(a);
        let rotation = on_thread(&store, move |store| store.offer(b, &Counters::default()));
        let refusal = on_thread(&store, move |store| {
            store.rejected(fa, Instant::now());
            store.rotation_wait(fa, WAIT);
        });
        // The request path: a credential it loads comes with its flag (set_active stores the
        // flag first), and is one the store held.
        let seen = store.load();
        let windowed = store.windowed();
        assert!(seen.fingerprint() == fa || seen.fingerprint() == fb);
        if seen.fingerprint() == fb {
            assert!(windowed, "saw the new credential without its windowed flag");
        }
        drop(seen);
        assert_eq!(rotation.join().unwrap(), Offered::Rotated);
        refusal.join().unwrap();
        assert_settled(&store);
        assert_eq!(store.current().fingerprint(), fb);
        assert!(!store.active_rejected(), "the refusal was of the old key");
        // A refusal of the old key before the rotation made it no fallback; after, it was
        // retired as a rejected previous: either way the refused key is never offered again.
        assert!(store.previous().is_none());
    });
}

fn windowed(key: &str) -> Credential {
    let later = SystemTime::now() + Duration::from_secs(3600);
    Credential::new(key).with_refresh_windows(RefreshWindows {
        advisory: later,
        mandatory: later,
    })
}
