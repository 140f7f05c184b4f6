//! Rotation etiquette: few rejected requests per rotation. Exchanges and gateways count failed
//! authentications, so each rejection a client could have avoided is a defect.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Api, ManualSource, client, version_of};
use keyswap::Client;

/// `callers` tasks sending requests until `stop`; returns (requests, failures).
fn load(
    client: &Client,
    callers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(u64, u64)>> {
    (0..callers)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut sent, mut failed) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    match client.get("/x").send().await {
                        Ok(r) if r.status() == 200 => {}
                        _ => failed += 1,
                    }
                }
                (sent, failed)
            })
        })
        .collect()
}

async fn finish(tasks: Vec<tokio::task::JoinHandle<(u64, u64)>>) -> (u64, u64) {
    let mut total = (0, 0);
    for t in tasks {
        let (s, f) = t.await.unwrap();
        total = (total.0 + s, total.1 + f);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_new_key_propagates_requests_hold_on_the_previous_and_probe_at_a_bounded_rate() {
    let (server, api) = Api::start(&["old"]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default().probe_interval(Duration::from_millis(100)),
        )
        .build()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&client, 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The new key reaches the source; the server accepts it only 500 ms later.
    source.set("new");
    client.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = client.stats();
    api.accept_only(&["old", "new"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.accept_only(&["new"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (sent, failed) = finish(tasks).await;

    assert_eq!(failed, 0, "no consumer saw a failure");
    let stats = client.stats();
    assert!(sent > 100, "the load ran: {sent}");
    // The first wave (requests in flight with the new key) plus one probe per 100 ms.
    assert!(
        during.auth_failures <= 8 + 6,
        "rejections while propagating: {during:?}"
    );
    assert!(during.probes >= 2 && during.probes <= 6, "{during:?}");
    assert!(stats.auth_failures <= 8 + 7, "{stats:?}");
    assert_eq!(
        client.credential_version(),
        version_of("new"),
        "switched for good"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_hard_revocation_each_request_in_flight_meets_at_most_one_rejection() {
    let (server, api) = Api::start(&["k0"]).await;
    let source = ManualSource::new("k0");
    let client = client(&source, &server).await.build().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&client, 8, stop.clone());
    for n in 1..=5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let key = format!("k{n}");
        api.accept_only(&[&key]); // the old key stops working now
        tokio::time::sleep(Duration::from_millis(60)).await;
        source.set(&key); // the source follows
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let (_, failed) = finish(tasks).await;
    assert_eq!(failed, 0);
    let stats = client.stats();
    // One rejection per request in flight at each revocation, and no attempt with an older,
    // already revoked key (it is no fallback).
    assert!(stats.auth_failures <= 5 * 8, "{stats:?}");
    assert_eq!(stats.fallbacks, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untried_previous_key_is_tried_by_one_request_not_all() {
    // Both keys are revoked: only one of the requests in flight may try the previous one.
    let (server, api) = Api::start(&["old"]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    source.set("new");
    client.refresh().await.unwrap();
    api.accept_only(&[]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    let old_attempts = api
        .seen()
        .iter()
        .filter(|k| k.as_deref() == Some("old"))
        .count();
    assert_eq!(old_attempts, 1, "{:?}", api.seen());
}

#[tokio::test]
async fn versions_only_move_forward() {
    let (server, api) = Api::start(&["old", "new"]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server).await.build().await.unwrap();
    source.set("new");
    client.refresh().await.unwrap();
    // The source flips back to the key it replaced: not followed.
    source.set("old");
    client.refresh().await.unwrap();
    assert_eq!(client.credential_version(), version_of("new"));
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("new"));

    // Unless the newest is no longer valid: then the old one is the only valid choice.
    api.accept_only(&["old"]);
    let resp = client.get("/x").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    client.refresh().await.unwrap();
    assert_eq!(client.credential_version(), version_of("old"));
}
