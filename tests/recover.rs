//! The recover path after an authentication failure: refresh + retry, single-flight, overlap
//! fallback, bounded wait for a rotation, and the bounds that keep it from looping.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Api, KEY_HEADER, ManualSource, client};
use keyswap::{Auth, Client, Source};

/// A client on `k1` whose source has just moved to `k2`, the one key the server accepts: the
/// client has not heard of the rotation yet.
async fn rotated_unheard() -> (wiremock::MockServer, Api, Client) {
    let (server, api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1");
    let client = client(&source, &server).await.build().await.unwrap();
    source.set("k2");
    (server, api, client)
}

#[tokio::test]
async fn a_401_refreshes_the_source_and_retries_with_the_fresh_key() {
    let (_server, api, client) = rotated_unheard().await;

    let resp = client.get("/v1/ticker").send().await.unwrap();

    assert_eq!(resp.status(), 200);
    assert_eq!(api.seen(), vec![Some("k1".into()), Some("k2".into())]);
    let stats = client.stats();
    assert_eq!(
        (
            stats.auth_failures,
            stats.retries,
            stats.refreshes,
            stats.rotations
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(client.credential_version(), common::version_of("k2"));
}

/// The retry is the caller's request again, whatever it was built with: method, path, query,
/// headers (for a bodiless request the engine keeps its parts, not a whole copy).
#[tokio::test]
async fn the_retry_is_the_callers_request_again() {
    let (server, api, client) = rotated_unheard().await;

    let resp = client
        .request(keyswap::reqwest::Method::DELETE, "/v1/orders/7")
        .query(&[("symbol", "BTCUSDT"), ("side", "buy")])
        .header("x-trace", "t-1")
        .header("accept", "application/json")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 200);
    assert_eq!(api.seen(), vec![Some("k1".into()), Some("k2".into())]);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(request.method.as_str(), "DELETE");
        assert_eq!(request.url.path(), "/v1/orders/7");
        assert_eq!(request.url.query(), Some("symbol=BTCUSDT&side=buy"));
        assert_eq!(request.headers.get("x-trace").unwrap(), "t-1");
        assert_eq!(request.headers.get("accept").unwrap(), "application/json");
        assert!(request.body.is_empty());
    }
}

#[tokio::test]
async fn concurrent_failures_share_one_refresh() {
    let (server, api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1").with_delay(Duration::from_millis(50));
    let client = client(&source, &server).await.build().await.unwrap();
    let loads_at_build = source.loads();
    source.set("k2");

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }

    // The first failure starts a load; failures that arrive while it runs may not be answered
    // by a load that began before them, so they share at most one more.
    let loads = source.loads() - loads_at_build;
    assert!(
        (1..=2).contains(&loads),
        "at most two loads for 50 concurrent 401s: {loads}"
    );
    assert_eq!(client.stats().refreshes as usize, loads);
    assert_eq!(api.requests(), 100);
}

#[tokio::test]
async fn only_configured_statuses_count_as_auth_failures() {
    let (server, api) = Api::start_with_status(&["k2"], 403).await;
    let source = ManualSource::new("k1");
    let default = client(&source, &server).await.build().await.unwrap();
    source.set("k2");
    let resp = default.get("/x").send().await.unwrap();
    assert_eq!(resp.status(), 403, "403 is not an auth failure by default");
    assert_eq!(keyswap::verdict(&resp), keyswap::Rejection::None);
    assert_eq!(default.stats().retries, 0);

    source.set("k1");
    let opted_in = client(&source, &server)
        .await
        .rejection_policy(keyswap::RejectionPolicy::statuses(&[401, 403]).unwrap())
        .build()
        .await
        .unwrap();
    source.set("k2");
    let resp = opted_in.get("/x").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(keyswap::verdict(&resp), keyswap::Rejection::None);
    assert_eq!(opted_in.stats().retries, 1);
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k2"));
}

#[tokio::test]
async fn a_response_predicate_can_mark_auth_failures() {
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // An exchange-style API: 400 with an error code header for a bad key.
    let server = MockServer::start().await;
    Mock::given(header(KEY_HEADER, "k2"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(header(KEY_HEADER, "k1"))
        .respond_with(ResponseTemplate::new(400).insert_header("x-error-code", "-2015"))
        .mount(&server)
        .await;
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rejection_policy(keyswap::RejectionPolicy::default().or_when(|resp| {
            resp.headers()
                .get("x-error-code")
                .is_some_and(|v| v == "-2015")
        }))
        .build()
        .await
        .unwrap();
    source.set("k2");
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(client.stats().auth_failures, 1);
}

#[tokio::test]
async fn a_request_is_retried_a_bounded_number_of_times() {
    // Every load yields a brand-new key and the server accepts none: an unbounded client
    // would loop forever.
    let (server, api) = Api::start(&[]).await;
    let source = ManualSource::new("unused").always_new();
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().overlap_window(Duration::ZERO))
        .build()
        .await
        .unwrap();

    let resp = client.get("/x").send().await.unwrap();

    assert_eq!(resp.status(), 401, "the server's answer is returned");
    assert_eq!(
        keyswap::verdict(&resp),
        keyswap::Rejection::Credential,
        "the engine's verdict travels with the response it could not absorb"
    );
    assert_eq!(
        api.requests(),
        4,
        "the original attempt, the fresh key, and the two the rotation wait may deliver"
    );
    assert_eq!(client.stats().retries, 3);
    client.get("/x").send().await.unwrap();
    assert_eq!(api.requests(), 8, "bounded again for the next request");
}

#[tokio::test]
async fn a_streamed_body_is_not_replayed() {
    let (_server, api, client) = rotated_unheard().await;

    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("order=1".as_bytes())]);
    let resp = client
        .post("/orders")
        .body(keyswap::reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 401, "returned as is: the stream is consumed");
    assert_eq!(api.requests(), 1);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn a_buffered_body_is_replayed_whole_on_retry() {
    use wiremock::matchers::{body_string, header};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(header(KEY_HEADER, "k2"))
        .and(body_string("{\"qty\":3}"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(header(KEY_HEADER, "k1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let source = ManualSource::new("k1");
    let client = client(&source, &server).await.build().await.unwrap();
    source.set("k2");
    let resp = client
        .post("/orders")
        .json(&serde_json::json!({"qty": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn the_previous_key_is_tried_inside_the_overlap_window() {
    // The new key is out but the server has not propagated it: only the old one works.
    let (server, api) = Api::start(&["old"]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server).await.build().await.unwrap();
    source.set("new");
    client.refresh().await.unwrap();

    let resp = client.get("/x").send().await.unwrap();

    assert_eq!(resp.status(), 200);
    assert_eq!(api.seen(), vec![Some("new".into()), Some("old".into())]);
    assert_eq!(client.stats().fallbacks, 1);
}

#[tokio::test]
async fn no_fallback_once_the_overlap_window_is_over() {
    let (server, api) = Api::start(&["old"]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default()
                .overlap_window(Duration::ZERO)
                .await_rotation(Duration::ZERO),
        )
        .build()
        .await
        .unwrap();
    source.set("new");
    client.refresh().await.unwrap();

    let resp = client.get("/x").send().await.unwrap();

    assert_eq!(resp.status(), 401);
    assert_eq!(api.seen(), vec![Some("new".into())]);
    assert_eq!(client.stats().fallbacks, 0);
}

#[tokio::test]
async fn a_rejected_previous_key_is_not_tried_again() {
    let (server, api) = Api::start(&[]).await;
    let source = ManualSource::new("old");
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    source.set("new");
    client.refresh().await.unwrap();

    client.get("/x").send().await.unwrap();
    assert_eq!(
        api.seen(),
        vec![Some("new".into()), Some("old".into()), Some("new".into())],
        "the previous key refused after the newest: the server moved on, the newest is tried once more"
    );
    client.get("/x").send().await.unwrap();
    assert_eq!(
        api.seen()[3..],
        [Some("new".into())],
        "the second request skips the previous key the server already refused"
    );
}

#[tokio::test]
async fn requests_wait_for_a_rotation_the_source_has_not_delivered_yet() {
    // Hard revocation: the server moved to k2 before the new key reached the source.
    let (server, api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::from_secs(3)))
        .build()
        .await
        .unwrap();
    let late = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        late.set("k2");
    });

    let started = Instant::now();
    let resp = client.get("/x").send().await.unwrap();

    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k2"));
    assert_eq!(client.stats().rotation_waits, 1);
}

#[tokio::test]
async fn zero_await_rotation_returns_the_rejection_at_once() {
    let (server, _api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(client.get("/x").send().await.unwrap().status(), 401);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(client.stats().rotation_waits, 0);
}

#[tokio::test]
async fn the_wait_is_shared_and_happens_once_per_version() {
    let (server, _api) = Api::start(&[]).await;
    let source = ManualSource::new("k1");
    let wait = Duration::from_millis(400);
    let client = client(&source, &server)
        .await
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(wait))
        .build()
        .await
        .unwrap();

    let started = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 401);
    }
    let together = started.elapsed();
    assert!(together >= wait, "{together:?}");
    assert!(
        together < wait * 3,
        "10 requests shared one wait: {together:?}"
    );
    assert_eq!(client.stats().rotation_waits, 1);

    let started = Instant::now();
    assert_eq!(client.get("/x").send().await.unwrap().status(), 401);
    assert!(
        started.elapsed() < wait / 2,
        "after the wait, fail fast: {:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().rotation_waits, 1);
}

#[tokio::test]
async fn a_retry_is_signed_again_with_the_new_key() {
    use hmac::{Hmac, Mac};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    // A signed API: X-Key, X-Nonce (strictly increasing) and X-Sign = HMAC-SHA256(secret, nonce + path).
    let server = MockServer::start().await;
    let nonces = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let seen = nonces.clone();
    Mock::given(wiremock::matchers::any())
        .respond_with(move |req: &Request| {
            let header = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_owned();
            let nonce: u64 = header("x-nonce").parse().unwrap();
            seen.lock().unwrap().push(nonce);
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s2").unwrap();
            mac.update(format!("{nonce}{}", req.url.path()).as_bytes());
            let expected = hex(&mac.finalize().into_bytes());
            if header("x-key") == "k2" && header("x-sign") == expected {
                ResponseTemplate::new(200)
            } else {
                ResponseTemplate::new(401)
            }
        })
        .mount(&server)
        .await;

    let nonce = Arc::new(AtomicU64::new(1_000));
    let auth = Auth::sign(move |req, cred| {
        let n = nonce.fetch_add(1, Ordering::SeqCst);
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(cred.expose_secret().unwrap().as_bytes())?;
        mac.update(format!("{n}{}", req.url().path()).as_bytes());
        let sign = hex(&mac.finalize().into_bytes());
        let headers = req.headers_mut();
        headers.insert("x-key", cred.expose_key().parse()?);
        headers.insert("x-nonce", n.to_string().parse()?);
        headers.insert("x-sign", sign.parse()?);
        Ok(())
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cred.json");
    std::fs::write(&path, r#"{"key":"k1","secret":"s1"}"#).unwrap();
    let client = Client::builder()
        .source(Source::file(&path).watch(false).poll_interval(None))
        .auth(auth)
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    common::write_atomic(&path, br#"{"key":"k2","secret":"s2"}"#);

    let resp = client.post("/api/v3/order").send().await.unwrap();

    assert_eq!(resp.status(), 200);
    let nonces = nonces.lock().unwrap().clone();
    assert_eq!(nonces.len(), 2);
    assert!(
        nonces[1] > nonces[0],
        "the retry carries a fresh nonce: {nonces:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A source that reads its value when a load *begins* and answers `delay` later: a load that
/// began before a rotation answers with the old key.
#[derive(Clone)]
struct SnapshotSource {
    key: Arc<std::sync::Mutex<String>>,
    delay: Duration,
}

impl keyswap::CredentialSource for SnapshotSource {
    fn name(&self) -> String {
        "snapshot".into()
    }
    fn load(&self) -> keyswap::BoxFuture<'_, Result<keyswap::Credential, keyswap::Error>> {
        let key = self.key.lock().unwrap().clone();
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(keyswap::Credential::new(key))
        })
    }
}

#[tokio::test]
async fn a_load_that_began_before_the_failure_does_not_answer_it() {
    let (server, api) = Api::start(&["k1"]).await;
    let source = SnapshotSource {
        key: Arc::new(std::sync::Mutex::new("k1".into())),
        delay: Duration::from_millis(300),
    };
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .rotation_policy(
            keyswap::RotationPolicy::default()
                .await_rotation(Duration::ZERO)
                .overlap_window(Duration::ZERO),
        )
        .build()
        .await
        .unwrap();
    // A load begins (it will answer k1)…
    let early = tokio::spawn({
        let client = client.clone();
        async move { client.refresh().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // …then the key rotates and a request fails while that load is still running.
    *source.key.lock().unwrap() = "k2".into();
    api.accept_only(&["k2"]);
    let resp = client.get("/x").send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "answered by a load that began after the failure"
    );
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k2"));
    early.await.unwrap().unwrap();
    assert_eq!(client.stats().refreshes, 2);
}

#[tokio::test]
async fn the_rotation_wait_is_bounded_overall_whatever_the_source_latency() {
    let (server, _api) = Api::start(&["k2"]).await;
    let source = ManualSource::new("k1").with_delay(Duration::from_millis(600));
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(200)),
        )
        .load_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let resp = client.get("/x").send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), 401);
    // The refresh on the failure (600 ms) plus the wait (200 ms), not a further slow load.
    assert!(
        took < Duration::from_millis(1000),
        "the wait outlived await_rotation: {took:?}"
    );
}
