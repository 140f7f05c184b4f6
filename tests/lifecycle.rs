//! Construction without a runtime (`build_lazy`), the fail-fast `ready`, and `health`.

mod common;

use std::time::{Duration, SystemTime};

use common::{Api, KEY_HEADER, ManualSource, version_of, write_atomic};
use keyswap::{Auth, Client, Credential, HealthState, Source};

#[test]
fn a_lazy_client_is_built_outside_any_runtime_and_loads_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    write_atomic(&path, b"k1");
    // No runtime here, as in a sync constructor or a `static`.
    let client = Client::builder()
        .source(Source::file(&path))
        .auth(Auth::header(KEY_HEADER))
        .build_lazy()
        .unwrap();
    assert_eq!(
        client.health().state,
        HealthState::Failing,
        "nothing loaded yet"
    );
    assert_eq!(client.health().credential_version, None);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (server, api) = Api::start(&["k1", "k2"]).await;
        let resp = client
            .get(format!("{}/x", server.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "the first request loaded the key");
        assert_eq!(api.seen(), vec![Some("k1".into())]);
        assert_eq!(client.health().state, HealthState::Fresh);
        // The watch started with it.
        write_atomic(&path, b"k2");
        assert!(
            common::eventually(Duration::from_secs(3), || client.credential_version()
                == version_of("k2"))
            .await
        );
    });
}

#[tokio::test]
async fn ready_is_the_fail_fast_check_and_retries_until_a_load_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    let client = Client::builder()
        .source(Source::file(&path))
        .build_lazy()
        .unwrap();
    let err = client.ready().await.unwrap_err();
    assert!(
        err.is_source() && err.to_string().contains("file not found"),
        "{err}"
    );
    let err = client.get("http://127.0.0.1:9/x").send().await.unwrap_err();
    assert!(
        err.is_source(),
        "requests fail with the source's error: {err}"
    );
    let health = client.health();
    assert_eq!(health.state, HealthState::Failing);
    assert!(health.last_error.unwrap().contains("file not found"));

    write_atomic(&path, b"k1");
    client.ready().await.unwrap();
    assert_eq!(client.credential_version(), version_of("k1"));
    assert_eq!(client.health().state, HealthState::Fresh);
    // `build` is `build_lazy` + `ready`: it still fails fast.
    let err = Client::builder()
        .source(Source::file(dir.path().join("missing")))
        .build()
        .await
        .unwrap_err();
    assert!(err.is_source());
}

#[tokio::test]
async fn health_is_stale_while_the_source_fails_and_failing_without_a_valid_key() {
    let (server, api) = Api::start(&["k1"]).await;
    let source = ManualSource::new("k1");
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    let fresh = client.health();
    assert_eq!(fresh.state, HealthState::Fresh);
    assert!(fresh.last_success.is_some() && fresh.failing_since.is_none());

    source.fail("vault sealed");
    assert!(client.refresh().await.is_err());
    let stale = client.health();
    assert_eq!(
        stale.state,
        HealthState::Stale,
        "the last good key still serves"
    );
    assert!(stale.failing_since.unwrap() <= SystemTime::now());
    assert!(stale.last_error.unwrap().contains("vault sealed"));
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);

    // The server rejects the key and the source has nothing: failing.
    api.accept_only(&[]);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 401);
    assert_eq!(client.health().state, HealthState::Failing);

    // Recovery.
    source.set("k2");
    api.accept_only(&["k2"]);
    client.refresh().await.unwrap();
    assert_eq!(client.health().state, HealthState::Fresh);

    // An expired credential is failing too.
    let expiring = Client::builder()
        .source(Source::fixed(
            Credential::new("k").with_expiry(SystemTime::now() + Duration::from_millis(300)),
        ))
        .build()
        .await
        .unwrap();
    assert_eq!(expiring.health().state, HealthState::Fresh);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(expiring.health().state, HealthState::Failing);
}
