//! Exact timings of the rotation engine, on injected time ([`keyswap::time::ManualTime`]): the
//! rotation wait, its poll step, the overlap window, the propagation hold's probes, the load
//! timeout, the driver's refresh ahead of expiry, health timestamps and the poll tickers of file
//! and endpoint sources. Time moves only when a test says so; no test sleeps for the durations
//! it checks (a 60 s wait is checked in milliseconds of real time).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, ManualSource, eventually};
use keyswap::time::{ManualTime, TimeSource};
use keyswap::{BoxFuture, Client, Credential, CredentialSource, Error, Source};
use reqwest::StatusCode;

const SETTLE: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Lets spawned work run for a moment of real time (manual time does not move).
async fn let_run() {
    tokio::time::sleep(ms(100)).await;
}

async fn build(builder: keyswap::ClientBuilder, time: &ManualTime) -> Client {
    builder
        .time_source(time.clone())
        .sleep_impl(time.clone())
        .build()
        .await
        .unwrap()
}

/// A local API accepting `accepted` (keep the server alive: the first element), its request
/// log, a hand-driven source holding `key`, manual time, and a client of them configured by
/// `configure`.
async fn stage(
    accepted: &[&str],
    key: &str,
    configure: impl FnOnce(keyswap::ClientBuilder) -> keyswap::ClientBuilder,
) -> (wiremock::MockServer, Api, ManualSource, ManualTime, Client) {
    let (server, api) = Api::start(accepted).await;
    let source = ManualSource::new(key);
    let time = ManualTime::new();
    let client = build(configure(common::client(&source, &server).await), &time).await;
    (server, api, source, time, client)
}

fn get(client: &Client) -> tokio::task::JoinHandle<StatusCode> {
    let client = client.clone();
    tokio::spawn(async move { client.get("/").send().await.unwrap().status() })
}

#[tokio::test]
async fn a_rejected_request_waits_exactly_the_rotation_wait_then_gets_the_rejection() {
    let (_server, api, _, time, client) = stage(&["new"], "old", |b| {
        b.rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_secs(60)),
        )
    })
    .await;
    let real = Instant::now();
    let request = get(&client);
    assert!(
        eventually(SETTLE, || time.sleeps().contains(&Duration::from_secs(60))).await,
        "parked in the rotation wait"
    );
    time.advance(ms(59_900));
    let_run().await;
    assert!(!request.is_finished(), "still waiting at 59.9 s");
    time.advance(ms(100));
    assert_eq!(request.await.unwrap(), StatusCode::UNAUTHORIZED);
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "no real 60 s sleep"
    );
    assert!(api.seen().iter().all(|k| k.as_deref() == Some("old")));
    assert_eq!(client.stats().rotation_waits, 1);
}

#[tokio::test]
async fn the_rotation_wait_reloads_the_source_every_poll_step() {
    let (_server, api, source, time, client) = stage(&["new"], "old", |b| {
        b.rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_secs(10)),
        )
    })
    .await;
    let request = get(&client);
    assert!(eventually(SETTLE, || time.pending_sleeps() == 2).await);
    // The 100 ms poll step fires once (at 2 s: time jumped) and re-arms for 2.1 s.
    time.advance(Duration::from_secs(2));
    assert!(eventually(SETTLE, || time.pending_sleeps() == 2).await);
    let loads = source.loads();
    source.set("new");
    time.advance(ms(99));
    let_run().await;
    assert!(!request.is_finished());
    assert_eq!(source.loads(), loads, "no load between poll steps");
    // At 2.1 s the step fires; the re-load waits the refresh path's 20 ms burst gathering (the
    // last load finished within 200 ms) and then delivers the new key.
    time.advance(ms(1));
    assert!(eventually(SETTLE, || time.sleeps().last() == Some(&ms(20))).await);
    let_run().await;
    assert!(!request.is_finished());
    time.advance(ms(20));
    assert_eq!(request.await.unwrap(), StatusCode::OK);
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("new"));
}

/// The refresh path gathers a burst of rejections for 20 ms when its last load finished less
/// than 200 ms ago; past that window a request's refresh starts at once.
const PAST_BURST_WINDOW: Duration = Duration::from_millis(300);

#[tokio::test]
async fn the_previous_key_is_a_fallback_for_exactly_the_overlap_window() {
    let (_server, api, source, time, client) = stage(&["a"], "a", |b| {
        b.rotation_policy(
            keyswap::RotationPolicy::default()
                .overlap_window(Duration::from_secs(10))
                .propagation_hold(Duration::ZERO)
                .await_rotation(Duration::ZERO),
        )
    })
    .await;
    source.set("b");
    client.refresh().await.unwrap();
    time.advance(PAST_BURST_WINDOW);
    assert_eq!(get(&client).await.unwrap(), StatusCode::OK, "fallback to a");
    time.advance(ms(9_999) - PAST_BURST_WINDOW);
    assert_eq!(get(&client).await.unwrap(), StatusCode::OK, "at 9.999 s");
    time.advance(ms(1) + PAST_BURST_WINDOW);
    assert_eq!(
        get(&client).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "after 10 s the previous key is no fallback"
    );
    let seen: Vec<_> = api.seen().into_iter().map(Option::unwrap).collect();
    assert_eq!(seen, ["b", "a", "b", "a", "b"]);
}

#[tokio::test]
async fn a_burst_of_rejections_right_after_a_load_gathers_for_exactly_20_ms() {
    let (_server, api, source, time, client) = stage(&["a"], "a", |b| {
        b.rotation_policy(
            keyswap::RotationPolicy::default()
                .propagation_hold(Duration::ZERO)
                .await_rotation(Duration::ZERO),
        )
    })
    .await;
    source.set("b");
    client.refresh().await.unwrap();
    let loads = source.loads();
    let requests: Vec<_> = (0..4).map(|_| get(&client)).collect();
    assert!(eventually(SETTLE, || api.requests() == 4 && time.pending_sleeps() == 1).await);
    time.advance(ms(19));
    let_run().await;
    assert!(requests.iter().all(|r| !r.is_finished()));
    assert_eq!(source.loads(), loads, "the gathered load has not started");
    time.advance(ms(1));
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK, "fell back to a");
    }
    assert_eq!(source.loads(), loads + 1, "one load for the burst");
}

#[tokio::test]
async fn a_propagation_hold_probes_once_per_interval_and_ends_on_acceptance() {
    let (_server, api, source, time, client) = stage(&["a"], "a", |b| {
        b.rotation_policy(
            keyswap::RotationPolicy::default()
                .overlap_window(Duration::from_secs(60))
                .propagation_hold(Duration::from_secs(5))
                .probe_interval(Duration::from_secs(1)),
        )
    })
    .await;
    source.set("b");
    client.refresh().await.unwrap();
    time.advance(PAST_BURST_WINDOW);
    // b is not propagated yet: the first request meets the rejection and falls back; the hold
    // starts (probes at +1, +2, +3, +4 s; over at +5 s).
    assert_eq!(get(&client).await.unwrap(), StatusCode::OK);
    let before = api.requests();
    // 19 requests, one every 250 ms, up to +4.75 s: only those at +1, +2, +3 and +4 s try b.
    for _ in 0..19 {
        time.advance(ms(250));
        assert_eq!(get(&client).await.unwrap(), StatusCode::OK);
    }
    let during: Vec<_> = api.seen()[before..]
        .iter()
        .map(|k| k.clone().unwrap())
        .collect();
    assert_eq!(during.iter().filter(|k| *k == "b").count(), 4, "{during:?}");
    assert_eq!(during.len(), 19 + 4, "each rejected probe fell back to a");
    // b propagates and a is revoked; at +5 s the hold is over and every request uses b.
    api.accept_only(&["b"]);
    time.advance(ms(250));
    assert_eq!(get(&client).await.unwrap(), StatusCode::OK);
    time.advance(ms(1));
    assert_eq!(get(&client).await.unwrap(), StatusCode::OK);
    let seen = api.seen();
    assert_eq!(seen[seen.len() - 2..], [Some("b".into()), Some("b".into())]);
}

/// A source whose loads never finish.
#[derive(Clone, Default)]
struct Stuck {
    first_done: Arc<AtomicUsize>,
}

impl CredentialSource for Stuck {
    fn name(&self) -> String {
        "stuck".into()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            if self.first_done.fetch_add(1, Ordering::SeqCst) == 0 {
                return Ok(Credential::new("k"));
            }
            std::future::pending().await
        })
    }
}

#[tokio::test]
async fn a_load_times_out_exactly_at_the_load_timeout() {
    let time = ManualTime::new();
    let client = build(
        Client::builder()
            .source(Source::custom(Stuck::default()))
            .load_timeout(Duration::from_secs(30)),
        &time,
    )
    .await;
    let refresh = {
        let client = client.clone();
        tokio::spawn(async move { client.refresh().await })
    };
    assert!(eventually(SETTLE, || time.pending_sleeps() == 1).await);
    time.advance(ms(29_999));
    let_run().await;
    assert!(!refresh.is_finished());
    time.advance(ms(1));
    let err = refresh.await.unwrap().unwrap_err();
    assert!(err.is_source(), "{err}");
    assert!(err.to_string().contains("timed out after 30s"), "{err}");
}

/// A source of credentials that expire `ttl` after the injected clock's now.
#[derive(Clone)]
struct Expiring {
    time: ManualTime,
    ttl: Duration,
    loads: Arc<AtomicUsize>,
}

impl CredentialSource for Expiring {
    fn name(&self) -> String {
        "expiring".into()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            let n = self.loads.fetch_add(1, Ordering::SeqCst);
            Ok(Credential::new(format!("k{n}")).with_expiry(self.time.system_time() + self.ttl))
        })
    }
}

#[tokio::test]
async fn an_expiring_credential_is_reloaded_exactly_when_the_driver_planned() {
    let time = ManualTime::new();
    let loads = Arc::new(AtomicUsize::new(0));
    let source = Expiring {
        time: time.clone(),
        ttl: Duration::from_secs(100),
        loads: loads.clone(),
    };
    let client = build(Client::builder().source(Source::custom(source)), &time).await;
    assert!(eventually(SETTLE, || time.pending_sleeps() == 1).await);
    let planned = *time.sleeps().last().unwrap();
    // A buffer of 10 s (a tenth of the lifetime, at least 10 s) plus up to 50 % jitter.
    assert!(
        (Duration::from_secs(85)..=Duration::from_secs(90)).contains(&planned),
        "{planned:?}"
    );
    time.advance(planned - ms(1));
    let_run().await;
    assert_eq!(loads.load(Ordering::SeqCst), 1, "not a millisecond early");
    time.advance(ms(1));
    assert!(eventually(SETTLE, || loads.load(Ordering::SeqCst) == 2).await);
    let k1 = Credential::new("k1").version().to_owned();
    assert!(eventually(SETTLE, || client.credential_version() == k1).await);
    assert_eq!(client.stats().rotations, 1);
}

#[tokio::test]
async fn health_timestamps_come_from_the_injected_clock() {
    let source = ManualSource::new("k");
    let time = ManualTime::new();
    let client = build(
        Client::builder().source(Source::custom(source.clone())),
        &time,
    )
    .await;
    let start = time.system_time();
    assert_eq!(client.health().last_success, Some(start));
    time.advance(Duration::from_secs(7));
    source.fail("backend down");
    client.refresh().await.unwrap_err();
    assert_eq!(
        client.health().failing_since,
        Some(start + Duration::from_secs(7))
    );
    time.advance(Duration::from_secs(5));
    source.set("k2");
    client.refresh().await.unwrap();
    let health = client.health();
    assert_eq!(health.failing_since, None);
    assert_eq!(health.last_success, Some(start + Duration::from_secs(12)));
}

/// Advances manual time by `step` until `cond` holds (at most `steps` times), letting spawned
/// work run a moment of real time after each step.
async fn advance_until(
    time: &ManualTime,
    step: Duration,
    steps: usize,
    mut cond: impl FnMut() -> bool,
) -> bool {
    for _ in 0..steps {
        if cond() {
            return true;
        }
        time.advance(step);
        tokio::time::sleep(ms(20)).await;
    }
    cond()
}

#[tokio::test]
async fn a_file_is_polled_on_the_injected_clock() {
    // No change events: only the poll ticker sees the new key. Its 60 s interval passes in
    // manual time; in real time the test takes well under a second.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    common::write_atomic(&path, b"k1");
    let time = ManualTime::new();
    let source = Source::file(&path)
        .watch(false)
        .poll_interval(Some(Duration::from_secs(60)))
        .sleep_impl(time.clone());
    let client = build(Client::builder().source(source), &time).await;
    let first = client.credential_version();
    common::write_atomic(&path, b"k2");
    let_run().await;
    assert_eq!(
        client.credential_version(),
        first,
        "no poll before the interval"
    );
    let rotated = advance_until(&time, Duration::from_secs(5), 40, || {
        client.credential_version() != first
    })
    .await;
    assert!(
        rotated,
        "the poll ran on manual time (60 s ±20 % within 200 s)"
    );
    assert_eq!(client.credential_version(), common::version_of("k2"));
}

#[tokio::test]
async fn an_endpoint_is_polled_on_the_injected_clock() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let key = Arc::new(std::sync::Mutex::new("k1"));
    let served = Arc::clone(&key);
    Mock::given(method("GET"))
        .respond_with(move |_: &wiremock::Request| {
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "key": *served.lock().unwrap() }))
        })
        .mount(&server)
        .await;
    let time = ManualTime::new();
    let source = Source::http(&server.uri())
        .key_pointer("/key")
        .poll_interval(Some(Duration::from_secs(300)))
        .sleep_impl(time.clone());
    let client = build(Client::builder().source(source), &time).await;
    let first = client.credential_version();
    *key.lock().unwrap() = "k2";
    let_run().await;
    assert_eq!(
        client.credential_version(),
        first,
        "no poll before the interval"
    );
    let rotated = advance_until(&time, Duration::from_secs(30), 40, || {
        client.credential_version() != first
    })
    .await;
    assert!(
        rotated,
        "the poll ran on manual time (300 s ±20 % within 1200 s)"
    );
    assert_eq!(client.credential_version(), common::version_of("k2"));
}

#[tokio::test]
async fn signed_timestamps_read_the_injected_clock() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // A wall clock far from the host's: a signer reading the host's would be years off.
    let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let time = ManualTime::starting_at(start);
    let client = build(
        Client::builder()
            .source(Source::fixed(Credential::new("key").with_secret("secret")))
            .auth(keyswap::Auth::signer(keyswap::sign::HmacSigner::binance()))
            .sync_clock(false)
            .base_url(server.uri()),
        &time,
    )
    .await;
    // One request: its answer's `Date` (the host's time, from the server) then corrects the
    // clock, as it should.
    client.get("/api/v3/account").send().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let ts: Vec<u128> = requests
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "timestamp")
                .map(|(_, v)| v.parse().unwrap())
                .expect("a signed timestamp")
        })
        .collect();
    let start_ms = 1_700_000_000_000u128;
    assert_eq!(ts, vec![start_ms], "signed with the injected wall clock");
}
