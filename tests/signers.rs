//! Exchange signers end to end, against local exchanges that verify every signature
//! server-side: rotation of the key pair with hard revocation, a skewed server clock, Kraken's
//! HTTP 200 errors, nonce rejections, and key pairs that are never mixed across rotations.

mod common;
#[path = "common/exchange.rs"]
mod exchange;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exchange::{Exchange, Flavour};
use keyswap::sign::{HmacSigner, KrakenSigner};
use keyswap::{Auth, BoxFuture, Client, Credential, CredentialSource, Error, Source};

/// A key pair the test rotates; every load returns one consistent pair.
#[derive(Clone)]
struct Pair(Arc<Mutex<(String, String)>>);

impl Pair {
    fn new(key: &str, secret: &str) -> Self {
        Pair(Arc::new(Mutex::new((key.into(), secret.into()))))
    }
    fn set(&self, key: &str, secret: &str) {
        *self.0.lock().unwrap() = (key.into(), secret.into());
    }
}

impl CredentialSource for Pair {
    fn name(&self) -> String {
        "pair".into()
    }
    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        let (key, secret) = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(Credential::new(key).with_secret(secret)) })
    }
}

fn kraken_secret(n: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([n; 64])
}

#[tokio::test]
async fn binance_rotation_with_hard_revocation_is_absorbed_and_every_attempt_is_signed_afresh() {
    let ex = Exchange::default();
    ex.honour_only(&[("key-1", "secret-1")]);
    let server = ex.clone().start(Flavour::Binance).await;
    let pair = Pair::new("key-1", "secret-1");
    let client = Client::builder()
        .source(Source::custom(pair.clone()))
        .auth(Auth::signer(HmacSigner::binance()))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    let order = [("symbol", "BTCUSDT"), ("side", "BUY"), ("quantity", "0.01")];
    assert_eq!(
        client
            .post("/api/v3/order")
            .query(&order)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The exchange revokes the pair; the source has the new one a moment later.
    ex.honour_only(&[("key-2", "secret-2")]);
    let later = pair.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        later.set("key-2", "secret-2");
    });
    let resp = client
        .post("/api/v3/order")
        .form(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "absorbed: refreshed, re-signed, retried"
    );
    let ledger = ex.ledger();
    assert_eq!((ledger.accepted, ledger.bad_key), (2, 1), "{ledger:?}");
    assert_eq!(ledger.bad_signature, 0, "{ledger:?}");
    let mut sigs = ledger.signatures.clone();
    sigs.sort();
    sigs.dedup();
    assert_eq!(
        sigs.len(),
        ledger.signatures.len(),
        "a signature is never replayed"
    );
}

#[tokio::test]
async fn a_skewed_exchange_clock_is_learned_at_start_and_relearned_on_a_timestamp_rejection() {
    let ex = Exchange::default();
    ex.honour_only(&[("key-1", "secret-1")]);
    // The host is 3 s ahead of the exchange (the exchange runs 3 s behind).
    ex.set_skew_ms(-3_000);
    let server = ex.clone().start(Flavour::Binance).await;
    let client = Client::builder()
        .source(Source::custom(Pair::new("key-1", "secret-1")))
        .auth(Auth::signer(HmacSigner::binance()))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    for _ in 0..5 {
        let resp = client.get("/api/v3/account").send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        ex.ledger().bad_timestamp,
        0,
        "learned before the first request"
    );

    // The exchange's clock jumps: one rejection, re-learned, re-signed, retried once.
    ex.set_skew_ms(8_000);
    let resp = client.get("/api/v3/account").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ledger = ex.ledger();
    assert_eq!(ledger.bad_timestamp, 1, "{ledger:?}");
    let stats = client.stats();
    assert_eq!((stats.resigns, stats.auth_failures), (1, 0), "{stats:?}");
}

#[tokio::test]
async fn without_a_base_url_the_clock_is_learned_from_the_first_origin_once() {
    let ex = Exchange::default();
    ex.honour_only(&[("key-1", "secret-1")]);
    ex.set_skew_ms(4_000);
    let server = ex.clone().start(Flavour::Binance).await;
    let client = Client::builder()
        .source(Source::custom(Pair::new("key-1", "secret-1")))
        .auth(Auth::signer(HmacSigner::binance()))
        .build()
        .await
        .unwrap();
    let url = format!("{}/api/v3/account", server.uri());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(&url).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(ex.ledger().bad_timestamp, 0);
    let time_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v3/time")
        .count();
    assert_eq!(
        time_calls, 1,
        "one lookup shared by the concurrent first requests"
    );
}

#[tokio::test]
async fn kraken_http_200_errors_are_read_from_the_body() {
    let ex = Exchange::default();
    ex.honour_only(&[("kr-1", &kraken_secret(1))]);
    let server = ex.clone().start(Flavour::Kraken).await;
    let pair = Pair::new("kr-1", &kraken_secret(1));
    let client = Client::builder()
        .source(Source::custom(pair.clone()))
        .auth(Auth::signer(KrakenSigner::new()))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    let balance = || client.post("/0/private/Balance").form(&[("asset", "XBT")]);
    let body = balance().send().await.unwrap().text().await.unwrap();
    assert!(body.contains("XXBT"), "{body}");

    // "EAPI:Invalid key" with HTTP 200: the credential was rejected.
    ex.honour_only(&[("kr-2", &kraken_secret(2))]);
    pair.set("kr-2", &kraken_secret(2));
    let resp = balance().send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("XXBT"),
        "the consumer reads the success body: {body}"
    );
    assert_eq!(client.stats().auth_failures, 1);

    // "EAPI:Invalid nonce" (another process used a larger nonce): re-signed with a new nonce.
    ex.refuse_next_nonce();
    let resp = balance().send().await.unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("XXBT"), "re-signed and retried once: {body}");
    assert_eq!(client.stats().resigns, 1);
    assert_eq!(ex.ledger().bad_nonce, 1);

    // A rejection body the consumer gets back reads exactly as the exchange sent it.
    ex.honour_only(&[]);
    let resp = Client::builder()
        .source(Source::custom(pair.clone()))
        .auth(Auth::signer(KrakenSigner::new()))
        .base_url(server.uri())
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap()
        .post("/0/private/Balance")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"error":["EAPI:Invalid key"]}"#
    );
    assert_eq!(ex.ledger().bad_signature, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_never_signed_with_parts_of_two_rotations() {
    let ex = Exchange::default();
    ex.honour_only(&[("key-0", "secret-0")]);
    let server = ex.clone().start(Flavour::Binance).await;
    let pair = Pair::new("key-0", "secret-0");
    let client = Client::builder()
        .source(Source::custom(pair.clone()))
        .auth(Auth::signer(HmacSigner::binance()))
        .base_url(server.uri())
        .build()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut failures = 0;
                while !stop.load(Ordering::Relaxed) {
                    let resp = client.get("/api/v3/openOrders").send().await.unwrap();
                    failures += u32::from(resp.status() != 200);
                }
                failures
            })
        })
        .collect();
    for n in 1..=20 {
        // Both pairs are honoured during the change; the client's refresh lands concurrently
        // with requests being signed.
        let (key, secret) = (format!("key-{n}"), format!("secret-{n}"));
        let (old_key, old_secret) = (format!("key-{}", n - 1), format!("secret-{}", n - 1));
        ex.honour_only(&[(&old_key, &old_secret), (&key, &secret)]);
        pair.set(&key, &secret);
        client.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = 0;
    for w in workers {
        failures += w.await.unwrap();
    }
    let ledger = ex.ledger();
    assert!(ledger.accepted > 100, "{ledger:?}");
    assert_eq!(
        ledger.bad_signature, 0,
        "a key signed with another pair's secret"
    );
    assert_eq!(failures, 0);
}

/// An OKX-shaped endpoint: verifies `OK-ACCESS-SIGN` with the secret of the key it names and
/// checks the passphrase of that same pair; a 401 with code 50111 for an unknown key.
#[derive(Clone, Default)]
struct Okx {
    /// key → (secret, passphrase)
    pairs: Arc<Mutex<std::collections::HashMap<String, (String, String)>>>,
    mixed: Arc<std::sync::atomic::AtomicU64>,
}

impl wiremock::Respond for Okx {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        use base64::Engine;
        use hmac::Mac;
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let Some((secret, passphrase)) = self
            .pairs
            .lock()
            .unwrap()
            .get(&header("ok-access-key"))
            .cloned()
        else {
            return wiremock::ResponseTemplate::new(401).set_body_json(
                serde_json::json!({"code": "50111", "msg": "Invalid OK-ACCESS-KEY"}),
            );
        };
        let path = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_owned(),
        };
        let prehash = format!("{}{}{path}", header("ok-access-timestamp"), req.method);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(prehash.as_bytes());
        mac.update(&req.body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if expected != header("ok-access-sign") || passphrase != header("ok-access-passphrase") {
            self.mixed.fetch_add(1, Ordering::SeqCst);
            return wiremock::ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"code": "50113", "msg": "Invalid Sign"}));
        }
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"code": "0", "data": []}))
    }
}

/// A key, secret and passphrase the test rotates together.
#[derive(Clone)]
struct Triple(Arc<Mutex<(String, String, String)>>);

impl CredentialSource for Triple {
    fn name(&self) -> String {
        "triple".into()
    }
    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        let (k, s, p) = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(Credential::new(k).with_secret(s).with_passphrase(p)) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_passphrase_rotates_with_the_pair() {
    let okx = Okx::default();
    let honour = |n: u32| {
        okx.pairs.lock().unwrap().insert(
            format!("ok-{n}"),
            (format!("ok-secret-{n}"), format!("ok-pass-{n}")),
        );
    };
    honour(0);
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(okx.clone())
        .mount(&server)
        .await;
    let source = Triple(Arc::new(Mutex::new((
        "ok-0".into(),
        "ok-secret-0".into(),
        "ok-pass-0".into(),
    ))));
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::signer(HmacSigner::okx()))
        .base_url(server.uri())
        .sync_clock(false)
        .build()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut failed = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let resp = client
                        .get("/api/v5/account/balance?ccy=BTC")
                        .send()
                        .await
                        .unwrap();
                    failed += u32::from(resp.status() != 200);
                }
                failed
            })
        })
        .collect();
    for n in 1..=10 {
        honour(n);
        *source.0.lock().unwrap() = (
            format!("ok-{n}"),
            format!("ok-secret-{n}"),
            format!("ok-pass-{n}"),
        );
        client.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The old pair is revoked after the new one is out.
        okx.pairs.lock().unwrap().remove(&format!("ok-{}", n - 1));
    }
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    for w in workers {
        failed += w.await.unwrap();
    }
    assert_eq!(failed, 0);
    assert_eq!(
        okx.mixed.load(Ordering::SeqCst),
        0,
        "a passphrase or secret from another rotation"
    );
}

/// A response as an exchange sends it (JSON), built without a server.
fn answer(status: u16, body: &'static str) -> keyswap::reqwest::Response {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
        .into()
}

#[tokio::test]
async fn classify_reads_body_rejections_whichever_way_the_signer_was_configured() {
    use keyswap::Rejection;
    let client = |auth: Auth| {
        Client::builder()
            .source(Source::fixed(
                Credential::new("k").with_secret(kraken_secret(1)),
            ))
            .auth(auth)
            .build_lazy()
            .unwrap()
    };
    let binance = [
        (
            400,
            r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#,
            Rejection::Credential,
        ),
        (
            401,
            r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#,
            Rejection::Credential,
        ),
        (
            400,
            r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#,
            Rejection::Credential,
        ),
        (
            400,
            r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#,
            Rejection::Timestamp,
        ),
        (
            400,
            r#"{"code":-1100,"msg":"Illegal characters found in parameter."}"#,
            Rejection::None,
        ),
        (200, r#"{"orderId":1}"#, Rejection::None),
    ];
    let kraken = [
        (
            200,
            r#"{"error":["EAPI:Invalid key"]}"#,
            Rejection::Credential,
        ),
        (
            200,
            r#"{"error":["EAPI:Invalid signature"]}"#,
            Rejection::Credential,
        ),
        (200, r#"{"error":["EAPI:Invalid nonce"]}"#, Rejection::Nonce),
        (
            200,
            r#"{"error":[],"result":{"XXBT":"1.5"}}"#,
            Rejection::None,
        ),
    ];
    let cases = [
        (
            "binance (string)",
            Auth::parse("binance").unwrap(),
            &binance[..],
        ),
        (
            "binance (signer)",
            Auth::signer(HmacSigner::binance()),
            &binance[..],
        ),
        (
            "kraken (string)",
            Auth::parse("kraken").unwrap(),
            &kraken[..],
        ),
        (
            "kraken (signer)",
            Auth::signer(KrakenSigner::new()),
            &kraken[..],
        ),
    ];
    for (name, auth, answers) in cases {
        let client = client(auth);
        for &(status, body, expected) in answers {
            let (verdict, resp) = client.classify(answer(status, body)).await;
            assert_eq!(verdict, expected, "{name}: {status} {body}");
            assert_eq!(resp.status(), status);
            assert_eq!(
                resp.text().await.unwrap(),
                body,
                "{name}: the body reads as sent"
            );
        }
    }
    // Status and headers alone cannot see a rejection in the body: the signer asks for it,
    // and without it the answer is no rejection.
    let headers = answer(200, kraken_body()).headers().clone();
    let signer = KrakenSigner::new();
    assert!(keyswap::sign::Signer::needs_body(
        &signer,
        http::StatusCode::OK,
        &headers
    ));
    assert_eq!(
        keyswap::sign::Signer::classify(&signer, http::StatusCode::OK, &headers, None),
        Rejection::None
    );
    let kraken = client(Auth::parse("kraken").unwrap());
    assert_eq!(
        kraken.classify(answer(200, kraken_body())).await.0,
        Rejection::Credential
    );

    // Without a signer: retry_on_status and a classify_body rule, in the same verdict.
    let plain = Client::builder()
        .source(Source::fixed("k"))
        .rejection_policy(
            keyswap::RejectionPolicy::statuses(&[401, 403])
                .unwrap()
                .or_body(|_, _, body| {
                    if body.windows(11).any(|w| w == b"invalid key") {
                        Rejection::Credential
                    } else {
                        Rejection::None
                    }
                }),
        )
        .build_lazy()
        .unwrap();
    for (status, body, expected) in [
        (403, "{}", Rejection::Credential),
        (400, r#"{"error":"invalid key"}"#, Rejection::Credential),
        (400, r#"{"error":"bad symbol"}"#, Rejection::None),
        (200, "{}", Rejection::None),
    ] {
        let (verdict, resp) = plain.classify(answer(status, body)).await;
        assert_eq!(verdict, expected, "{status} {body}");
        assert_eq!(resp.text().await.unwrap(), body);
    }
}

fn kraken_body() -> &'static str {
    r#"{"error":["EAPI:Invalid key"]}"#
}

#[tokio::test]
async fn a_signer_given_as_a_string_reads_rejections_in_the_body_end_to_end() {
    let ex = Exchange::default();
    ex.honour_only(&[("kr-1", &kraken_secret(1))]);
    let server = ex.clone().start(Flavour::Kraken).await;
    let client = Client::builder()
        .source(Source::fixed(
            Credential::new("kr-9").with_secret(kraken_secret(9)),
        ))
        .auth(Auth::parse("kraken").unwrap())
        .base_url(server.uri())
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    let resp = client.post("/0/private/Balance").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(client.stats().auth_failures >= 1, "the recover path saw it");
    let (verdict, resp) = client.classify(resp).await;
    assert_eq!(verdict, keyswap::Rejection::Credential);
    assert_eq!(resp.text().await.unwrap(), kraken_body());
}
