//! The refresh windows a short-lived credential carries ([`keyswap::RefreshWindows`], set by
//! the OAuth2 source), on injected time: the background renewal starts exactly at the advisory
//! moment, requests wait for a renewal from the mandatory moment on (one load however many
//! wait), a failed renewal leaves a still-valid credential in use, and an expired one with no
//! renewal fails with the cause. Time moves only when a test says so.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Api, KEY_HEADER, eventually};
use keyswap::time::{ManualTime, TimeSource};
use keyswap::{BoxFuture, Client, Credential, CredentialSource, Error, RefreshWindows};
use reqwest::StatusCode;

const SETTLE: Duration = Duration::from_secs(5);
const LIFETIME: Duration = Duration::from_secs(100);
const ADVISORY: Duration = Duration::from_secs(90);
const MANDATORY: Duration = Duration::from_secs(95);

/// Issues `tok-1`, `tok-2`, … living 100 s on the manual clock, with windows at 90 s and
/// 95 s; fails while `down`.
#[derive(Clone)]
struct Tokens {
    time: ManualTime,
    loads: Arc<AtomicUsize>,
    /// Loads made for requests (the mandatory window), not by the background renewal, which
    /// runs on keyswap's own thread when the clock says so.
    request_loads: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl CredentialSource for Tokens {
    fn name(&self) -> String {
        "tokens".into()
    }
    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            // A load takes a moment (real time, a few ms): requests arriving meanwhile queue.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let n = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
            if std::thread::current().name() != Some("keyswap-background") {
                self.request_loads.fetch_add(1, Ordering::SeqCst);
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(Error::source("tokens", "token endpoint: cannot connect"));
            }
            let now = self.time.system_time();
            Ok(Credential::new(format!("tok-{n}"))
                .with_expiry(now + LIFETIME)
                .with_refresh_windows(RefreshWindows {
                    advisory: now + ADVISORY,
                    mandatory: now + MANDATORY,
                }))
        })
    }
}

async fn stage() -> (wiremock::MockServer, Api, Tokens, ManualTime, Client) {
    let (server, api) = Api::start(&[]).await;
    let time = ManualTime::new();
    let tokens = Tokens {
        time: time.clone(),
        loads: Arc::default(),
        request_loads: Arc::default(),
        down: Arc::default(),
    };
    let client = Client::builder()
        .source(keyswap::Source::custom(tokens.clone()))
        .auth(keyswap::Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .time_source(time.clone())
        .sleep_impl(time.clone())
        .build()
        .await
        .unwrap();
    (server, api, tokens, time, client)
}

fn loads(tokens: &Tokens) -> usize {
    tokens.loads.load(Ordering::SeqCst)
}

/// `n` requests at once; their statuses (or errors, as text).
async fn send(client: &Client, n: usize) -> Vec<Result<StatusCode, String>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                // Real time: a request parked on the manual clock would otherwise hang the test.
                let sent = tokio::time::timeout(SETTLE, client.get("/").send()).await;
                match sent {
                    Ok(resp) => resp.map(|r| r.status()).map_err(|e| e.to_string()),
                    Err(_) => Err("still waiting after 5 s".to_owned()),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_background_renewal_starts_exactly_at_the_advisory_moment() {
    let (_server, api, tokens, time, client) = stage().await;
    api.accept_only(&["tok-1", "tok-2"]);
    assert!(
        eventually(SETTLE, || time.sleeps().contains(&ADVISORY)).await,
        "{:?}",
        time.sleeps()
    );
    time.advance(ADVISORY - Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(loads(&tokens), 1, "not before 90 s");
    time.advance(Duration::from_millis(1));
    assert!(eventually(SETTLE, || loads(&tokens) == 2).await);
    assert!(
        eventually(SETTLE, || client.credential_version()
            == Credential::new("tok-2").version())
        .await
    );
    // Before the mandatory moment requests never wait for a load.
    assert_eq!(send(&client, 4).await, vec![Ok(StatusCode::OK); 4]);
    assert_eq!(loads(&tokens), 2);
}

#[tokio::test]
async fn in_the_mandatory_window_requests_wait_for_one_renewal_shared_by_all() {
    let (_server, api, tokens, time, client) = stage().await;
    api.accept_only(&["tok-4"]);
    // The advisory renewal and the driver's retry fail: the old token keeps serving…
    tokens.down.store(true, Ordering::SeqCst);
    assert!(eventually(SETTLE, || time.sleeps().contains(&ADVISORY)).await);
    time.advance(ADVISORY);
    assert!(eventually(SETTLE, || loads(&tokens) == 2).await);
    time.advance(MANDATORY - ADVISORY);
    assert!(eventually(SETTLE, || loads(&tokens) == 3).await);
    // …until the mandatory moment, where 32 requests wait for one renewal (the driver is in
    // its backoff, seconds away).
    tokens.down.store(false, Ordering::SeqCst);
    let statuses = send(&client, 32).await;
    assert_eq!(statuses, vec![Ok(StatusCode::OK); 32]);
    assert_eq!(loads(&tokens), 4, "one load for the 32");
    assert!(
        api.seen().iter().all(|k| k.as_deref() == Some("tok-4")),
        "none went out with tok-1: {:?}",
        api.seen()
    );
}

#[tokio::test]
async fn a_failed_renewal_keeps_a_valid_token_and_an_expired_one_fails_with_the_cause() {
    let (_server, api, tokens, time, client) = stage().await;
    let all: Vec<String> = (1..=50).map(|n| format!("tok-{n}")).collect();
    api.accept_only(&all.iter().map(String::as_str).collect::<Vec<_>>());
    tokens.down.store(true, Ordering::SeqCst);
    assert!(eventually(SETTLE, || time.sleeps().contains(&ADVISORY)).await);
    time.advance(MANDATORY + Duration::from_secs(1));
    // Mandatory window, source down, token valid: served with it.
    assert_eq!(send(&client, 8).await, vec![Ok(StatusCode::OK); 8]);
    // Expired, source down: a clear error, and nothing sent.
    time.advance(LIFETIME - MANDATORY);
    let sent_before = api.requests();
    let outcomes = send(&client, 8).await;
    for outcome in &outcomes {
        let err = outcome.as_ref().unwrap_err();
        assert!(
            err.contains("credential source tokens: the credential has expired and renewing it failed: token endpoint: cannot connect"),
            "{err}"
        );
    }
    assert_eq!(api.requests(), sent_before);
    // Back, with requests every 50 ms: a failure is reused for 100 ms from the load that
    // failed (not from the last request that reused it), so the second one loads and is served.
    // The background renewal (on keyswap's own thread, when its backoff ends on the clock)
    // may load meanwhile too: its loads are counted apart, and when it renewed the token,
    // requests no longer need to.
    tokens.down.store(false, Ordering::SeqCst);
    let request_loads = || tokens.request_loads.load(Ordering::SeqCst);
    let background = || loads(&tokens) - request_loads();
    let (requests_before, background_before) = (request_loads(), background());
    time.advance(Duration::from_millis(50));
    let inside = send(&client, 1).await;
    assert_eq!(
        request_loads(),
        requests_before,
        "inside the spacing: no load"
    );
    if background() == background_before {
        assert!(
            inside[0].is_err(),
            "inside the spacing: the failure is reused"
        );
    }
    time.advance(Duration::from_millis(50));
    assert_eq!(send(&client, 1).await, vec![Ok(StatusCode::OK)]);
    if background() == background_before {
        assert_eq!(
            request_loads(),
            requests_before + 1,
            "after the spacing: one load"
        );
    }
    assert_ne!(api.seen().last().unwrap().as_deref(), Some("tok-1"));
}
