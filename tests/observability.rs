//! What a client reports: counters and the rotation hook.

mod common;

use std::sync::{Arc, Mutex};

use common::{Api, KEY_HEADER, ManualSource, version_of};
use keyswap::{Auth, Client, Source, Stats};

#[tokio::test]
async fn on_rotate_reports_old_and_new_versions_and_stats_count_everything() {
    let (server, _api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1");
    let rotations = Arc::new(Mutex::new(Vec::new()));
    let seen = rotations.clone();
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .on_rotate(move |r| {
            seen.lock()
                .unwrap()
                .push((r.old_version.clone(), r.new_version.clone()))
        })
        .build()
        .await
        .unwrap();
    assert_eq!(client.stats(), Stats::default());

    source.set("k2");
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    source.fail("endpoint down");
    assert!(client.refresh().await.is_err());

    assert_eq!(
        *rotations.lock().unwrap(),
        vec![(version_of("k1"), version_of("k2"))]
    );
    let stats = client.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.auth_failures, 1);
    assert_eq!(stats.retries, 1);
    assert_eq!(stats.refreshes, 2, "one on the 401, one forced");
    assert_eq!(stats.rotations, 1);
    assert_eq!(stats.source_errors, 1);
    assert_eq!(stats.fallbacks, 0);
}
