//! Metrics through the `metrics` facade (feature `metrics`), read back with a recording
//! exporter: requests per credential version show traffic leaving the old key.
#![cfg(feature = "metrics")]

mod common;

use common::{Api, KEY_HEADER, ManualSource, version_of};
use keyswap::{Auth, Client, Source};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test]
async fn requests_rejections_and_loads_are_recorded_per_credential_version() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let (server, api) = Api::start(&["k1"]).await;
    let source = ManualSource::new("k1");
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    }
    // Hard revocation: one rejection with k1, a refresh, then k2.
    api.accept_only(&["k2"]);
    source.set("k2");
    for _ in 0..2 {
        assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    }
    source.fail("down");
    assert!(client.refresh().await.is_err());

    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, version: Option<&str>| {
        snapshot
            .iter()
            .find(|(key, _, _, _)| {
                let key = key.key();
                key.name() == name
                    && key
                        .labels()
                        .any(|l| l.key() == "source" && l.value() == "manual")
                    && version.is_none_or(|v| {
                        key.labels().any(|l| l.key() == "version" && l.value() == v)
                    })
            })
            .map(|(_, _, _, value)| value)
    };
    let counter = |name: &str, version: Option<&str>| match value(name, version) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {version:?}: {other:?}"),
    };
    let (v1, v2) = (version_of("k1"), version_of("k2"));
    assert_eq!(
        counter("keyswap_requests_total", Some(&v1)),
        4,
        "3 + the rejected one"
    );
    assert_eq!(
        counter("keyswap_requests_total", Some(&v2)),
        2,
        "the retry + 1"
    );
    assert_eq!(counter("keyswap_auth_failures_total", Some(&v1)), 1);
    assert_eq!(counter("keyswap_rotations_total", None), 1);
    assert_eq!(counter("keyswap_refreshes_total", None), 2);
    assert_eq!(counter("keyswap_source_errors_total", None), 1);
    for gauge in [
        "keyswap_credential_loaded_timestamp_seconds",
        "keyswap_last_successful_load_timestamp_seconds",
    ] {
        match value(gauge, None) {
            Some(DebugValue::Gauge(at)) => assert!(at.into_inner() > 1.7e9, "{gauge}"),
            other => panic!("{gauge}: {other:?}"),
        }
    }
}
