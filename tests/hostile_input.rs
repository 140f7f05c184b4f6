//! Whatever a file, a variable or a setting holds, keyswap neither panics nor hangs: it accepts
//! the value or refuses it naming the source and the cause, and never the secret.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Api, KEY_HEADER, ManualSource, eventually, version_of, write_atomic};
use keyswap::{Auth, Client, Source};
const MAX_CREDENTIAL_BYTES: usize = Source::MAX_CREDENTIAL_BYTES;

const SECRET: &str = "sup3r-s3cret-marker";

async fn file_client(path: &Path) -> Client {
    Client::builder()
        .source(Source::file(path).debounce(Duration::from_millis(5)))
        .auth(Auth::header(KEY_HEADER))
        .build()
        .await
        .unwrap()
}

fn assert_clean_refusal(err: &keyswap::Error, source: &str, cause: &str) {
    let shown = format!("{err} {err:?}");
    assert!(err.is_source(), "{shown}");
    assert!(shown.contains(source), "names the source: {shown}");
    assert!(shown.contains(cause), "names the cause {cause:?}: {shown}");
    assert!(!shown.contains(SECRET), "never the secret: {shown}");
}

#[tokio::test]
async fn absurd_expiries_are_refused_at_build_and_during_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    let name = format!("file:{}", path.display());
    for (absurd, cause) in [
        ("1e20", "expires_at"),
        ("1e308", "expires_at"),
        ("-5", "expires_at"),
        ("18446744073709551616", "expires_at"),
        // Beyond f64: the JSON itself does not parse.
        ("1e999", "does not parse"),
        (r#""+275760-09-13T00:00:00Z""#, "expires_at"),
        (r#""NaN""#, "expires_at"),
    ] {
        std::fs::write(
            &path,
            format!(r#"{{"key":"{SECRET}","expires_at":{absurd}}}"#),
        )
        .unwrap();
        let err = Client::builder()
            .source(Source::file(&path))
            .build()
            .await
            .unwrap_err();
        assert_clean_refusal(&err, &name, cause);
    }

    // The same value written during rotation: refused, counted, and the watcher lives on.
    write_atomic(&path, b"good-1");
    let client = file_client(&path).await;
    write_atomic(
        &path,
        format!(r#"{{"key":"{SECRET}","expires_at":1e20}}"#).as_bytes(),
    );
    assert!(
        eventually(Duration::from_secs(3), || client.stats().source_errors > 0).await,
        "the bad write is seen and counted"
    );
    assert_eq!(client.credential_version(), version_of("good-1"));
    write_atomic(&path, b"good-2");
    assert!(
        eventually(Duration::from_secs(3), || client.credential_version()
            == version_of("good-2"))
        .await,
        "later good writes are still followed"
    );
    assert_eq!(client.stats().background_failures, 0);
}

#[tokio::test]
async fn oversized_content_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, vec![b'k'; MAX_CREDENTIAL_BYTES + 1]).unwrap();
    let err = Client::builder()
        .source(Source::file(&path))
        .build()
        .await
        .unwrap_err();
    assert_clean_refusal(&err, "file:", "over the limit of 65536");

    // SAFETY of the test: no other thread of this test binary reads this variable.
    let var = "KEYSWAP_TEST_HUGE_ENV";
    unsafe { std::env::set_var(var, "k".repeat(MAX_CREDENTIAL_BYTES + 1)) };
    let err = Client::builder()
        .source(Source::env(var))
        .build()
        .await
        .unwrap_err();
    assert_clean_refusal(&err, "env:KEYSWAP_TEST_HUGE_ENV", "over the limit");
}

#[tokio::test]
async fn binary_empty_and_non_utf8_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    for (content, cause) in [
        (&b""[..], "empty"),
        (&b"\xff\xfe\x00\x01"[..], "not valid UTF-8"),
        (&b"\x00\x01\x02key"[..], "control"),
        (&b"{\"key\": 12}"[..], "missing or mistyped"),
        (
            &b"{\"key\": \"a\", \"version\": \"v\\n2\"}"[..],
            "control characters",
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        let err = Client::builder()
            .source(Source::file(&path))
            .build()
            .await
            .unwrap_err();
        assert_clean_refusal(&err, "file:", cause);
    }
}

#[tokio::test]
async fn fifos_devices_directories_and_symlink_loops_are_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let cases: [(&Path, &str); 4] = [
        (&fifo, "a FIFO"),
        (Path::new("/dev/zero"), "a device"),
        (dir.path(), "a directory"),
        (&a, "symbolic links"),
    ];
    for (path, cause) in cases {
        let build = Client::builder().source(Source::file(path)).build();
        let err = tokio::time::timeout(Duration::from_secs(5), build)
            .await
            .expect("never hangs")
            .unwrap_err();
        assert_clean_refusal(&err, "file:", cause);
    }
}

#[tokio::test]
async fn a_file_growing_while_read_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k").unwrap();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            let chunk = vec![b'k'; 64 * 1024];
            for _ in 0..64 {
                f.write_all(&chunk).unwrap();
            }
        })
    };
    // Whatever moment the read catches, the outcome is a key of at most the limit or a refusal.
    let outcome = Client::builder().source(Source::file(&path)).build().await;
    writer.join().unwrap();
    if let Err(err) = outcome {
        assert!(err.is_source(), "{err}");
    }
    let err = Client::builder()
        .source(Source::file(&path))
        .build()
        .await
        .unwrap_err();
    assert_clean_refusal(&err, "file:", "over the limit");
}

#[tokio::test]
async fn every_duration_setting_works_from_zero_to_max() {
    let (server, api) = Api::start(&["k2"]).await;
    for d in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        let source = ManualSource::new("k1");
        let client = Client::builder()
            .source(Source::custom(source.clone()))
            .auth(Auth::header(KEY_HEADER))
            .base_url(server.uri())
            .rotation_policy(
                keyswap::RotationPolicy::default()
                    .overlap_window(d)
                    .await_rotation(d.min(Duration::from_millis(50)))
                    .propagation_hold(d)
                    .probe_interval(d),
            )
            .load_timeout(if d.is_zero() { Duration::MAX } else { d })
            .build()
            .await
            .unwrap();
        source.set("k2");
        assert_eq!(
            client.get("/x").send().await.unwrap().status(),
            200,
            "{d:?}"
        );
        client.refresh().await.unwrap();
    }
    // File source settings at the edges: the driver must not panic on them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1").unwrap();
    for d in [Duration::ZERO, Duration::MAX] {
        let client = Client::builder()
            .source(
                Source::file(&path)
                    .debounce(d.min(Duration::from_millis(1)))
                    .poll_interval(Some(d)),
            )
            .build()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(client.stats().background_failures, 0, "{d:?}");
    }
    assert!(api.requests() >= 3);
}

#[test]
fn process_exit_is_not_held_up_by_a_read() {
    // A FIFO with no writer: a blocking open would never return and would hold the runtime's
    // shutdown (it waits for blocking tasks). The read refuses it at once instead.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcome = rt.block_on(Client::builder().source(Source::file(&fifo)).build());
    assert!(outcome.is_err());
    drop(rt);
    assert!(started.elapsed() < Duration::from_secs(5));
}
