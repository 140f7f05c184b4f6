//! File and environment sources on real files: the three ways key files are updated (rename,
//! in-place rewrite, the Kubernetes `..data` swap), the polling fallback, and bad input that
//! must never replace a good key.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{K8sVolume, eventually, version_of, write_atomic};
use keyswap::{Client, Source};

const SEEN_WITHIN: Duration = Duration::from_secs(5);

async fn file_client(path: &Path, source: keyswap::FileSource) -> Client {
    assert_eq!(source.path(), path);
    Client::builder().source(source).build().await.unwrap()
}

/// Watching only: polling off, so only change events can explain a rotation.
fn watched(path: &Path) -> keyswap::FileSource {
    Source::file(path).poll_interval(None)
}

#[tokio::test]
async fn rename_over_the_file_is_seen_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1\n").unwrap();
    let client = file_client(&path, watched(&path)).await;

    // A watch on the file itself dies after the first rename; the second must be seen too.
    for key in ["k2", "k3"] {
        write_atomic(&path, key.as_bytes());
        let want = version_of(key);
        assert!(
            eventually(SEEN_WITHIN, || client.credential_version() == want).await,
            "{key} not seen"
        );
    }
    assert_eq!(client.stats().rotations, 2);
}

#[tokio::test]
async fn an_in_place_rewrite_is_seen_and_its_empty_moment_is_not_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1").unwrap();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    let client = Client::builder()
        .source(watched(&path))
        .on_rotate(move |r| seen.lock().unwrap().push(r.new_version.clone()))
        .build()
        .await
        .unwrap();

    for key in ["k2", "k3"] {
        // Truncate, pause like a slow writer, then write: readers in between see an empty file.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        std::io::Write::write_all(&mut &file, key.as_bytes()).unwrap();
        drop(file);
        let want = version_of(key);
        assert!(
            eventually(SEEN_WITHIN, || client.credential_version() == want).await,
            "{key} not seen"
        );
    }
    assert_eq!(
        *versions.lock().unwrap(),
        vec![version_of("k2"), version_of("k3")]
    );
}

#[tokio::test]
async fn a_kubernetes_secret_volume_swap_is_seen_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &[("api_key", b"k1"), ("other", b"x")]);
    let path = dir.path().join("api_key");
    let client = file_client(&path, watched(&path)).await;
    assert_eq!(client.credential_version(), version_of("k1"));

    for key in ["k2", "k3", "k4"] {
        volume.update(&[("api_key", key.as_bytes()), ("other", b"x")]);
        let want = version_of(key);
        assert!(
            eventually(SEEN_WITHIN, || client.credential_version() == want).await,
            "{key} not seen"
        );
    }
    assert_eq!(client.stats().rotations, 3);
}

#[tokio::test]
async fn polling_catches_changes_when_events_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1").unwrap();
    let source = Source::file(&path)
        .watch(false)
        .poll_interval(Some(Duration::from_millis(100)));
    let client = file_client(&path, source).await;

    write_atomic(&path, b"k2");

    let want = version_of("k2");
    assert!(eventually(SEEN_WITHIN, || client.credential_version() == want).await);
}

#[tokio::test]
async fn clients_on_one_directory_all_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1").unwrap();
    let a = file_client(&path, watched(&path)).await;
    let b = file_client(&path, watched(&path)).await;
    drop(a);
    let c = file_client(&path, watched(&path)).await;

    write_atomic(&path, b"k2");

    let want = version_of("k2");
    assert!(
        eventually(SEEN_WITHIN, || b.credential_version() == want
            && c.credential_version() == want)
        .await
    );
}

#[tokio::test]
async fn json_files_carry_secret_version_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cred.json");
    std::fs::write(
        &path,
        r#"{"key": "k1", "secret": "s1", "version": "v1", "expires_at": "2999-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let client = file_client(&path, watched(&path)).await;
    assert_eq!(client.credential_version(), "v1");

    write_atomic(&path, br#"{"key": "k2", "secret": "s2", "version": 2}"#);

    assert!(eventually(SEEN_WITHIN, || client.credential_version() == "2").await);
}

/// Writes each kind of bad content over a good key file and checks that the good key stays,
/// that the error names the source and cause, and that it was counted.
#[tokio::test]
async fn bad_file_content_never_replaces_a_good_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "good-key-1").unwrap();
    let client = file_client(&path, watched(&path)).await;
    let good = version_of("good-key-1");
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty", b"", "content is empty"),
        ("whitespace", b"  \n\t ", "content is empty"),
        (
            "half-written JSON",
            br#"{"key": "sup3r-s3cret-half"#,
            "does not parse",
        ),
        ("not UTF-8", b"\xff\xfe\xfd", "not valid UTF-8"),
        ("key with spaces", b"two words", "whitespace"),
    ];
    for (i, (what, content, cause)) in cases.iter().enumerate() {
        write_atomic(&path, content);
        let err = client.refresh().await.expect_err(what);
        assert!(err.is_source(), "{what}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("file:{}", path.display())),
            "{what}: {msg}"
        );
        assert!(msg.contains(cause), "{what}: {msg}");
        assert!(!msg.contains("sup3r-s3cret"), "{what}: {msg}");
        assert_eq!(client.credential_version(), good, "{what} replaced the key");
        assert!(client.stats().source_errors > i as u64);
    }
    // The watcher saw all of that too, and swapped nothing in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.credential_version(), good);
    assert_eq!(client.stats().rotations, 0);
}

#[tokio::test]
async fn a_deleted_or_unreadable_file_keeps_the_last_good_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "good-key").unwrap();
    let client = file_client(&path, watched(&path)).await;

    std::fs::remove_file(&path).unwrap();
    let err = client.refresh().await.unwrap_err();
    assert!(err.to_string().contains("file not found"), "{err}");

    // A directory where the file was (as root, chmod 000 would not stop the read).
    std::fs::create_dir(&path).unwrap();
    let err = client.refresh().await.unwrap_err();
    assert!(
        err.is_source() && err.to_string().contains("not a regular file (a directory)"),
        "{err}"
    );

    assert_eq!(client.credential_version(), version_of("good-key"));
    std::fs::remove_dir(&path).unwrap();
    write_atomic(&path, b"good-key-2");
    assert_eq!(client.refresh().await.unwrap(), version_of("good-key-2"));
}

#[tokio::test]
async fn build_fails_fast_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing");
    let err = Client::builder()
        .source(Source::file(&path))
        .build()
        .await
        .unwrap_err();
    assert!(err.is_source());
    assert!(
        err.to_string()
            .contains(&format!("file:{}: file not found", path.display())),
        "{err}"
    );

    std::fs::write(&path, "").unwrap();
    let err = Client::builder()
        .source(Source::file(&path))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("content is empty"), "{err}");

    let err = Client::builder().build().await.unwrap_err();
    assert!(err.is_builder(), "{err}");
}

#[tokio::test]
async fn an_expired_credential_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cred.json");
    std::fs::write(&path, r#"{"key": "k1", "expires_at": 1000}"#).unwrap();
    let err = Client::builder()
        .source(Source::file(&path))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn env_source_is_reread_on_refresh() {
    const VAR: &str = "KEYSWAP_TEST_ENV_SOURCE_KEY";
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var(VAR, "env-k1") };
    let client = Client::builder()
        .source(Source::env(VAR))
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), format!("env:{VAR}"));
    assert_eq!(client.credential_version(), version_of("env-k1"));

    unsafe { std::env::set_var(VAR, "env-k2") };
    assert_eq!(client.refresh().await.unwrap(), version_of("env-k2"));

    unsafe { std::env::remove_var(VAR) };
    let err = client.refresh().await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("env:{VAR}: variable is not set")),
        "{err}"
    );
    assert_eq!(client.credential_version(), version_of("env-k2"));
    assert_eq!(client.stats().source_errors, 1);
}

#[tokio::test]
async fn a_missing_env_var_fails_the_build_naming_it() {
    let err = Client::builder()
        .source(Source::env("KEYSWAP_TEST_NEVER_SET"))
        .build()
        .await
        .unwrap_err();
    assert!(err.is_source());
    assert!(
        err.to_string().contains("env:KEYSWAP_TEST_NEVER_SET"),
        "{err}"
    );
}

#[tokio::test]
async fn the_file_source_feeds_the_401_path() {
    // The file changed but no event or poll has delivered it yet: the 401 re-reads it.
    let (server, api) = common::Api::start(&["k2"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1").unwrap();
    let client = Client::builder()
        .source(Source::file(&path).watch(false).poll_interval(None))
        .auth(keyswap::Auth::header(common::KEY_HEADER))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    write_atomic(&path, b"k2");

    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(api.seen(), vec![Some("k1".into()), Some("k2".into())]);
}
