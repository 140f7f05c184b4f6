//! Endpoint sources against local wiremock servers shaped like the real services: the generic
//! JSON source (headers, pointers, decode steps, ETag, limits, Retry-After) and each preset.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Api, KEY_HEADER};
use keyswap::{Auth, Client, CredentialSource, HeaderValueFrom, Source};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with whatever body the test sets now, counting requests; optional ETag handling.
#[derive(Clone, Default)]
struct Endpoint {
    body: Arc<std::sync::Mutex<serde_json::Value>>,
    hits: Arc<AtomicUsize>,
    etag: bool,
    not_modified: Arc<AtomicUsize>,
}

impl Endpoint {
    fn new(body: serde_json::Value) -> Self {
        Endpoint {
            body: Arc::new(std::sync::Mutex::new(body)),
            ..Default::default()
        }
    }
    fn with_etag(mut self) -> Self {
        self.etag = true;
        self
    }
    fn set(&self, body: serde_json::Value) {
        *self.body.lock().unwrap() = body;
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Respond for Endpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let body = self.body.lock().unwrap().clone();
        if !self.etag {
            return ResponseTemplate::new(200).set_body_json(body);
        }
        let tag = format!("\"{:x}\"", fxhash(&body.to_string()));
        let sent = req
            .headers
            .get("if-none-match")
            .map(|v| v.to_str().unwrap().to_owned());
        if sent.as_deref() == Some(tag.as_str()) {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(304).insert_header("etag", tag.as_str());
        }
        ResponseTemplate::new(200)
            .insert_header("etag", tag.as_str())
            .set_body_json(body)
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

async fn serve(at: &str, endpoint: &Endpoint) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path(at))
        .respond_with(endpoint.clone())
        .mount(&server)
        .await;
    server
}

async fn load(source: &impl CredentialSource) -> Result<keyswap::Credential, keyswap::Error> {
    source.load().await
}

// ---- presets, with bodies shaped like the services' documentation ---------------------------

fn vault_body(key: &str, version: u64) -> serde_json::Value {
    json!({
        "request_id": "2ea6c1f4-6ca5-4b69-9f4d-7a1c6f9b1e3a",
        "lease_id": "", "renewable": false, "lease_duration": 0,
        "data": {
            "data": { "api_key": key, "api_secret": format!("{key}-secret") },
            "metadata": {
                "created_time": "2018-03-22T02:24:06.945319214Z",
                "custom_metadata": null, "deletion_time": "", "destroyed": false,
                "version": version
            }
        },
        "wrap_info": null, "warnings": null, "auth": null
    })
}

#[tokio::test]
async fn vault_kv2_reads_data_data_with_the_token_header_and_metadata_version() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/payments/exchange"))
        .and(header("x-vault-token", "hvs.token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vault_body("vk-1", 3)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "hvs.token-1\n").unwrap();

    let source = Source::vault_kv2(
        &server.uri(),
        "secret",
        "payments/exchange",
        "api_key",
        HeaderValueFrom::file(&token),
    )
    .secret_pointer("/data/data/api_secret")
    .reuse_window(Duration::ZERO);
    let cred = load(&source).await.unwrap();
    assert_eq!(cred.expose_key(), "vk-1");
    assert_eq!(cred.expose_secret(), Some("vk-1-secret"));
    assert_eq!(cred.version(), "3");

    // The token file is re-read on every fetch: a rotated token is used, a wrong one fails.
    std::fs::write(&token, "hvs.token-2").unwrap();
    let err = load(&source).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert!(!err.to_string().contains("hvs.token"), "{err}");
}

#[tokio::test]
async fn aws_agent_sends_the_session_token_and_reads_secret_string() {
    // SAFETY of the test: the variable is unique to this test.
    unsafe { std::env::set_var("KEYSWAP_TEST_AGENT_TOKEN", "session-tok") };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/secretsmanager/get"))
        .and(query_param("secretId", "prod/exchange"))
        .and(header("x-aws-parameters-secrets-token", "session-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:prod/exchange-a1b2c3",
            "CreatedDate": 1523477145.713,
            "Name": "prod/exchange",
            "SecretBinary": null,
            "SecretString": "{\"api_key\":\"ak-1\",\"api_secret\":\"as-1\"}",
            "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "VersionStages": ["AWSCURRENT"],
            "ResultMetadata": {}
        })))
        .mount(&server)
        .await;

    let source = Source::aws_secrets_manager_agent("prod/exchange")
        .base_url(&server.uri())
        .header(
            "X-Aws-Parameters-Secrets-Token",
            HeaderValueFrom::env("KEYSWAP_TEST_AGENT_TOKEN"),
        )
        .decode_json_at("/SecretString")
        .key_pointer("/SecretString/api_key")
        .secret_pointer("/SecretString/api_secret");
    let cred = load(&source).await.unwrap();
    assert_eq!(
        (cred.expose_key(), cred.expose_secret()),
        ("ak-1", Some("as-1"))
    );
    assert_eq!(cred.version(), "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111");
    // The name never shows the query (`secretId=…`).
    assert_eq!(
        source.name(),
        format!("http:{}/secretsmanager/get", server.uri())
    );
}

#[tokio::test]
async fn gcp_secret_manager_decodes_the_base64_payload_and_versions_from_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/v1/projects/my-project/secrets/exchange-key/versions/latest:access",
        ))
        .and(header("authorization", "Bearer ya29.gcp-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "projects/123456789/secrets/exchange-key/versions/3",
            // base64("gk-3\n"): `gcloud secrets versions add --data-file` keeps the newline
            "payload": { "data": "Z2stMwo=", "dataCrc32c": "2414155093" }
        })))
        .mount(&server)
        .await;
    let source = Source::gcp_secret_manager(
        "my-project",
        "exchange-key",
        HeaderValueFrom::literal("ya29.gcp-token"),
    )
    .base_url(&server.uri());
    let cred = load(&source).await.unwrap();
    assert_eq!((cred.expose_key(), cred.version()), ("gk-3", "3"));
}

#[tokio::test]
async fn azure_key_vault_reads_value_version_from_id_and_expiry() {
    let server = MockServer::start().await;
    let id = format!(
        "{}/secrets/exchange-key/4387e9f3d6e14c459867679a90fd0f79",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/secrets/exchange-key"))
        .and(query_param("api-version", "7.4"))
        .and(header("authorization", "Bearer eyJ0eXAi.azure"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": "az-1",
            "id": id,
            "attributes": {
                "enabled": true, "created": 1493938410, "updated": 1493938410,
                "exp": 4102444800u64, "recoveryLevel": "Recoverable+Purgeable"
            }
        })))
        .mount(&server)
        .await;
    let source = Source::azure_key_vault(
        &server.uri(),
        "exchange-key",
        HeaderValueFrom::literal("eyJ0eXAi.azure"),
    );
    let cred = load(&source).await.unwrap();
    assert_eq!(cred.expose_key(), "az-1");
    assert_eq!(cred.version(), "4387e9f3d6e14c459867679a90fd0f79");
    assert_eq!(
        cred.expires_at(),
        Some(std::time::UNIX_EPOCH + Duration::from_secs(4102444800))
    );
}

// ---- the generic source's guards --------------------------------------------------------

#[tokio::test]
async fn an_unchanged_secret_costs_a_304_and_returns_the_cached_credential() {
    let endpoint = Endpoint::new(json!({"key": "e-1"})).with_etag();
    let server = serve("/s", &endpoint).await;
    let source = Source::http(&format!("{}/s", server.uri()))
        .key_pointer("/key")
        .reuse_window(Duration::ZERO);
    assert_eq!(load(&source).await.unwrap().expose_key(), "e-1");
    assert_eq!(load(&source).await.unwrap().expose_key(), "e-1");
    assert_eq!(endpoint.not_modified.load(Ordering::SeqCst), 1);
    endpoint.set(json!({"key": "e-2"}));
    assert_eq!(load(&source).await.unwrap().expose_key(), "e-2");
    assert_eq!(endpoint.hits(), 3);
}

#[tokio::test]
async fn bodies_over_the_cap_are_rejected_even_without_content_length() {
    let server = MockServer::start().await;
    let big = format!(
        "{{\"key\":\"k\",\"pad\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string(big))
        .mount(&server)
        .await;
    let source = Source::http(&format!("{}/big", server.uri())).key_pointer("/key");
    let err = load(&source).await.unwrap_err();
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );

    // A chunked body (no Content-Length) is counted while it streams.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
        sock.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..40 {
            let head = format!("{:x}\r\n", chunk.len());
            if sock.write_all(head.as_bytes()).await.is_err()
                || sock.write_all(&chunk).await.is_err()
                || sock.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
    });
    let source = Source::http(&format!("http://{addr}/chunked")).key_pointer("/key");
    let err = load(&source).await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn each_fetch_is_bounded_by_its_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"key": "k"}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let source = Source::http(&format!("{}/slow", server.uri()))
        .key_pointer("/key")
        .timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let err = load(&source).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn plain_http_is_refused_except_to_loopback() {
    let source = Source::http("http://secrets.example.com/v1/key").key_pointer("/key");
    let err = load(&source).await.unwrap_err();
    assert!(err.is_source());
    assert!(err.to_string().contains("refusing plain http"), "{err}");
    let source = Source::http("http://localhost:9/v1/key").key_pointer("/key");
    let err = load(&source).await.unwrap_err();
    assert!(!err.to_string().contains("refusing"), "{err}");
}

#[tokio::test]
async fn a_429_retry_after_keeps_every_load_away_from_the_endpoint_until_it_passes() {
    let server = MockServer::start().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    Mock::given(path("/limited"))
        .respond_with(move |_: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(429).insert_header("retry-after", "1")
        })
        .mount(&server)
        .await;
    let source = Source::http(&format!("{}/limited", server.uri()))
        .key_pointer("/key")
        .reuse_window(Duration::ZERO);
    let err = load(&source).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    for _ in 0..5 {
        let err = load(&source).await.unwrap_err();
        assert!(
            err.retry_after()
                .is_some_and(|d| d <= Duration::from_secs(1))
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "no request before Retry-After"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = load(&source).await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_retry_after_pause_quiets_the_poll_instead_of_counting_an_error_per_tick() {
    let server = MockServer::start().await;
    let limited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, hits) = (limited.clone(), Arc::new(AtomicUsize::new(0)));
    let counted = hits.clone();
    Mock::given(path("/s"))
        .respond_with(move |_: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            if flag.load(Ordering::SeqCst) {
                ResponseTemplate::new(429).insert_header("retry-after", "2")
            } else {
                ResponseTemplate::new(200).set_body_json(json!({"key": "good"}))
            }
        })
        .mount(&server)
        .await;
    let client = Client::builder()
        .source(
            Source::http(&format!("{}/s", server.uri()))
                .key_pointer("/key")
                .reuse_window(Duration::ZERO)
                .poll_interval(Some(Duration::from_millis(50))),
        )
        .build()
        .await
        .unwrap();
    limited.store(true, Ordering::SeqCst);
    assert!(common::eventually(Duration::from_secs(3), || client.stats().source_errors >= 1).await);
    let (errors, requests) = (client.stats().source_errors, hits.load(Ordering::SeqCst));
    // 1.5 s of a 2 s pause: 30 ticks of a 50 ms poll would each have counted an error.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        requests,
        "no request during the pause"
    );
    assert!(
        client.stats().source_errors <= errors + 1,
        "{} errors during the pause",
        client.stats().source_errors - errors
    );
    assert_eq!(client.health().state, keyswap::HealthState::Stale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_share_one_request() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::new(json!({"key": "k"}));
    Mock::given(path("/s"))
        .respond_with(endpoint.clone())
        .mount(&server)
        .await;
    let reused = Arc::new(Source::http(&format!("{}/s", server.uri())).key_pointer("/key"));
    let before = endpoint.hits();
    assert_eq!(before, 0);
    let loads: Vec<_> = (0..100)
        .map(|_| {
            let source = reused.clone();
            tokio::spawn(async move { source.load().await.map(|_| ()) })
        })
        .collect();
    for load in loads {
        load.await.unwrap().unwrap();
    }
    assert_eq!(endpoint.hits() - before, 1, "100 loads at once: one fetch");
}

#[tokio::test]
async fn errors_and_debug_never_show_secrets_tokens_or_queries() {
    let server = MockServer::start().await;
    Mock::given(path("/bad"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"key": ["sup3rs3cret"]}, "note": "sup3rs3cret"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/denied"))
        .respond_with(ResponseTemplate::new(403).set_body_string("token tok-sup3rs3cret denied"))
        .mount(&server)
        .await;
    for (at, expect) in [("/bad", "array"), ("/denied", "403")] {
        let source = Source::http(&format!("{}{at}?token=q-sup3rs3cret", server.uri()))
            .header("x-token", HeaderValueFrom::literal("tok-sup3rs3cret"))
            .key_pointer("/data/key");
        let shown = format!("{source:?}");
        let err = load(&source).await.unwrap_err();
        let text = format!("{err} {err:?} {shown}");
        assert!(text.contains(expect), "{text}");
        assert!(!text.contains("sup3rs3cret"), "{text}");
        assert!(
            text.contains(&format!("http:{}{at}", server.uri())),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_missing_header_source_fails_naming_it_not_its_value() {
    let source = Source::http("https://vault.example/v1/secret/data/x")
        .header(
            "X-Vault-Token",
            HeaderValueFrom::env("KEYSWAP_TEST_UNSET_TOKEN_VAR"),
        )
        .key_pointer("/data/data/api_key");
    let err = load(&source).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("KEYSWAP_TEST_UNSET_TOKEN_VAR is not set"),
        "{err}"
    );
}

// ---- the client over an endpoint source -------------------------------------------------

#[tokio::test]
async fn a_401_refreshes_from_the_endpoint_like_any_source() {
    let endpoint = Endpoint::new(vault_body("vk-1", 1));
    let server = serve("/v1/secret/data/app", &endpoint).await;
    let (api_server, api) = Api::start(&["vk-1"]).await;
    let client = Client::builder()
        .source(
            Source::vault_kv2(
                &server.uri(),
                "secret",
                "app",
                "api_key",
                HeaderValueFrom::literal("t"),
            )
            .reuse_window(Duration::ZERO)
            .poll_interval(None),
        )
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .build()
        .await
        .unwrap();
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);

    endpoint.set(vault_body("vk-2", 2));
    api.accept_only(&["vk-2"]);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(client.credential_version(), "2");
    assert_eq!(endpoint.hits(), 2, "build + one refresh");
    assert_eq!(client.stats().fallbacks, 0);
}

#[tokio::test]
async fn the_poll_follows_a_rotation_and_many_clients_share_one_poll() {
    let endpoint = Endpoint::new(json!({"key": "p-1", "v": 1})).with_etag();
    let server = serve("/s", &endpoint).await;
    let source = Source::custom(
        Source::http(&format!("{}/s", server.uri()))
            .key_pointer("/key")
            .version_pointer("/v")
            .poll_interval(Some(Duration::from_millis(200))),
    );
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(
            Client::builder()
                .source(source.clone())
                .build()
                .await
                .unwrap(),
        );
    }
    let built = endpoint.hits();
    endpoint.set(json!({"key": "p-2", "v": 2}));
    assert!(
        common::eventually(Duration::from_secs(3), || clients
            .iter()
            .all(|c| c.credential_version() == "2"))
        .await
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    // One ticker for the 20 clients: ~5 polls a second, not ~100.
    let polls = endpoint.hits() - built;
    assert!(polls <= 12, "{polls} polls");
    assert!(endpoint.not_modified.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_failing_endpoint_keeps_the_last_good_credential_and_counts_errors() {
    let server = MockServer::start().await;
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = healthy.clone();
    Mock::given(path("/s"))
        .respond_with(move |_: &Request| {
            if flag.load(Ordering::SeqCst) {
                ResponseTemplate::new(200).set_body_json(json!({"key": "good"}))
            } else {
                ResponseTemplate::new(500)
            }
        })
        .mount(&server)
        .await;
    let client = Client::builder()
        .source(
            Source::http(&format!("{}/s", server.uri()))
                .key_pointer("/key")
                .reuse_window(Duration::ZERO)
                .poll_interval(Some(Duration::from_millis(100))),
        )
        .build()
        .await
        .unwrap();
    let good = client.credential_version();
    healthy.store(false, Ordering::SeqCst);
    assert!(common::eventually(Duration::from_secs(3), || client.stats().source_errors >= 1).await);
    assert_eq!(client.credential_version(), good);
    let err = client.refresh().await.unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(client.credential_version(), good);
}

#[tokio::test]
async fn the_reuse_window_never_reuses_a_failure_or_a_fetch_older_than_the_rejected_request() {
    // A failed fetch is not reused: the next load inside the window asks again.
    let flaky = MockServer::start().await;
    Mock::given(path("/s"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&flaky)
        .await;
    Mock::given(path("/s"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"key": "r-1"})))
        .mount(&flaky)
        .await;
    let source = Source::http(&format!("{}/s", flaky.uri()))
        .key_pointer("/key")
        .reuse_window(Duration::from_secs(60));
    assert!(load(&source).await.is_err());
    assert_eq!(load(&source).await.unwrap().expose_key(), "r-1");

    // A client whose request is rejected gets a fetch that began after that request was sent,
    // even inside a long reuse window.
    let endpoint = Endpoint::new(json!({"key": "r-1"}));
    let server = serve("/s", &endpoint).await;
    let (api_server, api) = Api::start(&["r-1"]).await;
    let client = Client::builder()
        .source(
            Source::http(&format!("{}/s", server.uri()))
                .key_pointer("/key")
                .reuse_window(Duration::from_secs(60))
                .poll_interval(None),
        )
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    endpoint.set(json!({"key": "r-2"}));
    api.accept_only(&["r-2"]);
    assert_eq!(client.get("/x").send().await.unwrap().status(), 200);
    assert_eq!(
        endpoint.hits(),
        2,
        "build + a fresh fetch for the rejected request"
    );
}
