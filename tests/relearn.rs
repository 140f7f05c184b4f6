//! What the client learns from the server's answers about a credential is a fact about one
//! moment, and is re-learned: a key refused once and accepted later is a good key again (its
//! rotation wait, its place as a fallback, health), a lease renewed with the same key is news,
//! and a refusal that the server's next answers contradict is tried again.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{KEY_HEADER, ManualSource, client};
use keyswap::{BoxFuture, Credential, CredentialSource, Error, HealthState, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How a scripted API answers: the request's number and key give the status.
type Script = Arc<dyn Fn(usize, &str) -> u16 + Send + Sync>;

/// A scripted API: `decide(n, key)` answers the n-th request (from 0) carrying `key`, with
/// the status it returns. The script sees every request in order.
#[derive(Clone)]
struct Scripted {
    n: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
    decide: Script,
}

impl Respond for Scripted {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req
            .headers
            .get(KEY_HEADER)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut seen = self.seen.lock().unwrap();
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        seen.push(key.clone());
        ResponseTemplate::new((self.decide)(n, &key))
    }
}

async fn scripted(
    decide: impl Fn(usize, &str) -> u16 + Send + Sync + 'static,
) -> (MockServer, Scripted) {
    let api = Scripted {
        n: Arc::default(),
        seen: Arc::default(),
        decide: Arc::new(decide),
    };
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(api.clone())
        .mount(&server)
        .await;
    (server, api)
}

/// Which keys the server accepts now, and one flaky refusal to come.
#[derive(Default)]
struct Gateway {
    accepted: Mutex<Vec<String>>,
    flaky_refusals: AtomicUsize,
}

impl Gateway {
    fn accept_only(&self, keys: &[&str]) {
        *self.accepted.lock().unwrap() = keys.iter().map(|k| k.to_string()).collect();
    }

    fn status(&self, key: &str) -> u16 {
        let refuse_once = self
            .flaky_refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !refuse_once && self.accepted.lock().unwrap().iter().any(|k| k == key) {
            200
        } else {
            401
        }
    }
}

#[tokio::test]
async fn a_revocation_after_a_transient_refusal_is_absorbed_and_health_recovers() {
    let gateway = Arc::new(Gateway::default());
    gateway.accept_only(&["k1"]);
    let (server, _api) = {
        let gateway = gateway.clone();
        scripted(move |_, key| gateway.status(key)).await
    };
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(300)),
        )
        .build()
        .await
        .unwrap();

    // A flaky gateway refuses the valid key once: that refusal may reach the caller.
    gateway.flaky_refusals.store(1, Ordering::SeqCst);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 401);
    assert_eq!(client.health().state, HealthState::Failing);
    assert_eq!(client.stats().rotation_waits, 1);

    // Accepted again: a good key again.
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(
        client.health().state,
        HealthState::Fresh,
        "health is fresh after the first accepted request"
    );

    // Now it is really revoked, and the source follows 150 ms later: the wait spent on the
    // transient refusal is granted again.
    gateway.accept_only(&["k2"]);
    let late = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        late.set("k2");
    });
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap().status() })
        })
        .collect();
    for consumer in consumers {
        assert_eq!(consumer.await.unwrap(), 200);
    }
    assert_eq!(client.stats().rotation_waits, 2);
    assert_eq!(client.health().state, HealthState::Fresh);
}

#[tokio::test]
async fn a_key_accepted_after_a_refusal_stays_the_fallback_at_the_next_rotation() {
    let gateway = Arc::new(Gateway::default());
    gateway.accept_only(&["k1"]);
    let (server, api) = {
        let gateway = gateway.clone();
        scripted(move |_, key| gateway.status(key)).await
    };
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(100)),
        )
        .build()
        .await
        .unwrap();
    gateway.flaky_refusals.store(1, Ordering::SeqCst);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 401);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);

    // The source rotates before the server has propagated k2: the previous key k1 carries on.
    source.set("k2");
    client.refresh().await.unwrap();
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(client.stats().fallbacks, 1);
    assert_eq!(api.seen.lock().unwrap().last().unwrap(), "k1");
}

#[tokio::test]
async fn the_newest_refused_then_the_previous_revoked_means_the_newest_is_tried_again() {
    // The server propagates k2 while one request recovers: k2 refused (the server still on
    // k1), then k1 refused (the server has just switched to k2). Scripted so that the
    // interleaving happens on every run.
    let switched = Arc::new(AtomicUsize::new(0));
    let (server, api) = {
        let switched = switched.clone();
        scripted(move |_, key| {
            if key == "k1" && switched.swap(1, Ordering::SeqCst) == 0 {
                return 401; // the switch happens as this request arrives
            }
            let on = if switched.load(Ordering::SeqCst) == 1 {
                "k2"
            } else {
                "k1"
            };
            if key == on { 200 } else { 401 }
        })
        .await
    };
    let source = ManualSource::new("k1");
    let client = client(&source, &server)
        .await
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(200)),
        )
        .build()
        .await
        .unwrap();
    source.set("k2");
    client.refresh().await.unwrap();

    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(*api.seen.lock().unwrap(), ["k2", "k1", "k2"]);
    assert_eq!(client.health().state, HealthState::Fresh);
}

/// A lease: the same key, re-issued with a later expiry and a new version on every load after
/// the first.
#[derive(Clone)]
struct Lease {
    loads: Arc<AtomicUsize>,
    first_ttl: Duration,
}

impl CredentialSource for Lease {
    fn name(&self) -> String {
        "lease".into()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            let n = self.loads.fetch_add(1, Ordering::SeqCst);
            let ttl = if n == 0 {
                self.first_ttl
            } else {
                Duration::from_secs(3600)
            };
            Ok(Credential::new("same-key")
                .with_version(format!("lease-{n}"))
                .with_expiry(SystemTime::now() + ttl))
        })
    }
}

#[tokio::test]
async fn a_renewed_lease_on_the_same_key_keeps_the_client_healthy_past_the_old_expiry() {
    let lease = Lease {
        loads: Arc::default(),
        first_ttl: Duration::from_millis(1500),
    };
    let client = keyswap::Client::builder()
        .source(Source::custom(lease.clone()))
        .build()
        .await
        .unwrap();
    assert_eq!(client.credential_version(), "lease-0");
    // The refresh ahead of expiry renews the lease (same key bytes).
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert!(lease.loads.load(Ordering::SeqCst) >= 2);
    let health = client.health();
    assert_eq!(health.state, HealthState::Fresh, "{health:?}");
    assert_ne!(client.credential_version(), "lease-0");
    assert_eq!(client.stats().rotations, 0, "a renewal is not a rotation");
}
