//! OAuth2 client credentials against a real authorization server: oidc-provider (npm), run by
//! `tests/oauth2_server/server.mjs` on 127.0.0.1 with 2 s tokens, its protected `/api` checking
//! them. `scripts/test.sh` installs it (`npm ci`); otherwise run `npm ci` in
//! `tests/oauth2_server/`. Without Node.js or the packages these tests fail and say so.
//!
//! The figures the issue asks for: 8 callers for 20 s, a storm of 256 at expiry, the client
//! secret rotated at the server and 150 ms later in its file, the token endpoint down.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keyswap::{ClientAuthMethod, OAuth2ClientCredentials, Source};
use serde_json::{Value, json};

struct AuthServer {
    child: Child,
    _stdin: ChildStdin,
    url: String,
    admin: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth2_server")
}

impl AuthServer {
    /// Starts the server with `clients` (see server.mjs) and tokens of `ttl` seconds.
    fn start(ttl: u64, clients: Value) -> AuthServer {
        let dir = server_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run scripts/test.sh (it runs `npm ci` in \
             tests/oauth2_server/), or `npm ci` there yourself"
        );
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config.json");
        std::fs::write(
            &config,
            json!({ "ttl": ttl, "clients": clients }).to_string(),
        )
        .unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node (Node.js 20+ is needed): {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the authorization server did not start: {line:?}"))
            .trim()
            .to_owned();
        AuthServer {
            child,
            _stdin: stdin,
            url: format!("http://127.0.0.1:{port}"),
            admin: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: tmp,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    async fn post(&self, path: &str, body: Value) {
        let resp = self
            .admin
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    async fn stats(&self) -> Value {
        self.admin
            .get(format!("{}/admin/stats", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn token_requests(&self, client_id: &str) -> u64 {
        self.stats().await["token_requests"][client_id]
            .as_u64()
            .unwrap_or(0)
    }
}

fn secret_file(dir: &Path, secret: &str) -> PathBuf {
    let path = dir.join("client_secret");
    replace_file(&path, secret);
    path
}

/// Writes a new version the way secret managers do: a temporary file renamed over the old.
fn replace_file(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn client_for(server: &AuthServer, source: OAuth2ClientCredentials) -> keyswap::Client {
    keyswap::Client::builder()
        .source(source)
        .base_url(&server.url)
        .http_client(reqwest::Client::builder().no_proxy().build().unwrap())
        .build()
        .await
        .unwrap()
}

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

/// `callers` tasks calling `/api` back to back until `until`; failures are counted, and the
/// first few printed.
async fn hammer(client: &keyswap::Client, callers: usize, until: Instant) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            let tally = tally.clone();
            tokio::spawn(async move {
                while Instant::now() < until {
                    match client.get("/api").send().await {
                        Ok(resp) if resp.status() == 200 => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        outcome => {
                            if tally.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("consumer failure: {:?}", outcome.map(|r| r.status()));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    tally
}

fn client(id: &str, secret: &str) -> Value {
    json!({ "client_id": id, "client_secret": secret })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_callers_for_20_s_on_2_s_tokens_never_fail_and_cost_at_most_12_token_requests() {
    let server = AuthServer::start(2, json!([client("svc", "s3cret-1")]));
    let dir = tempfile::tempdir().unwrap();
    let secret = Source::file(secret_file(dir.path(), "s3cret-1"));
    let client = client_for(
        &server,
        Source::oauth2_client_credentials(&server.token_url(), "svc", secret).scope("api:read"),
    )
    .await;
    let tally = hammer(&client, 8, Instant::now() + Duration::from_secs(20)).await;
    let requests = server.token_requests("svc").await;
    let ok = tally.ok.load(Ordering::Relaxed);
    eprintln!("8 callers x 20 s, 2 s tokens: {ok} requests served, {requests} token requests");
    assert_eq!(tally.failed.load(Ordering::Relaxed), 0);
    assert!(ok > 1000, "the callers were served: {ok}");
    assert!(requests <= 20 / 2 + 2, "{requests} token requests");
    assert!(
        requests >= 10,
        "tokens were renewed as they expired: {requests}"
    );
}

/// 256 requests at once; each must be answered 200.
async fn storm(client: &keyswap::Client) {
    let storm: Vec<_> = (0..256)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/api").send().await.map(|r| r.status()) })
        })
        .collect();
    for request in storm {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_256_requests_just_after_expiry_costs_exactly_one_token_request() {
    let server = AuthServer::start(2, json!([client("storm", "s3cret-1")]));
    let dir = tempfile::tempdir().unwrap();
    let secret = Source::file(secret_file(dir.path(), "s3cret-1"));
    // Windows of zero: the token is renewed when it expires, not before; and the background
    // renewal at expiry fails (the endpoint is down around it), so the storm meets the
    // expired token with nothing renewing it. The endpoint comes back when the test says so,
    // before the storm, not after a timed window: a test descheduled under load must not
    // send its storm into the outage.
    let source = Source::oauth2_client_credentials(&server.token_url(), "storm", secret)
        .advisory_margin(Duration::ZERO)
        .mandatory_margin(Duration::ZERO)
        .retry_spacing(Duration::from_millis(50));
    let issued = Instant::now();
    let client = client_for(&server, source).await;
    assert_eq!(client.get("/api").send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1700).saturating_sub(issued.elapsed())).await;
    server
        .post("/admin/token-down", json!({ "ms": 60_000 }))
        .await;
    tokio::time::sleep(Duration::from_millis(2350).saturating_sub(issued.elapsed())).await;
    server.post("/admin/token-down", json!({ "ms": 0 })).await;
    storm(&client).await;
    assert_eq!(server.token_requests("storm").await, 2, "exactly one more");
    // The storm waited for the new token: none went out with the expired one.
    assert_eq!(server.stats().await["api"]["refused"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_256_refused_with_401_costs_exactly_one_token_request() {
    // The server says 60 s but its tokens die after 2 s: only the 401s tell.
    let server = AuthServer::start(
        2,
        json!([{ "client_id": "revoked", "client_secret": "s3cret-1", "advertise_ttl": 60 }]),
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = Source::file(secret_file(dir.path(), "s3cret-1"));
    let client = client_for(
        &server,
        Source::oauth2_client_credentials(&server.token_url(), "revoked", secret),
    )
    .await;
    assert_eq!(client.get("/api").send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    storm(&client).await;
    assert_eq!(
        server.token_requests("revoked").await,
        2,
        "exactly one more"
    );
    let refused = server.stats().await["api"]["refused"].as_u64().unwrap();
    assert!((1..=256).contains(&refused), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_rotated_at_the_server_and_150_ms_later_in_its_file_costs_no_failure() {
    let server = AuthServer::start(2, json!([client("rot", "old-secret")]));
    let dir = tempfile::tempdir().unwrap();
    let path = secret_file(dir.path(), "old-secret");
    let client = client_for(
        &server,
        Source::oauth2_client_credentials(&server.token_url(), "rot", Source::file(&path)),
    )
    .await;
    let start = Instant::now();
    let callers = {
        let client = client.clone();
        tokio::spawn(async move { hammer(&client, 8, start + Duration::from_secs(7)).await })
    };
    // Rotate just before a renewal is due (the token from t=0 is renewed at 1.9 s), so the
    // renewal meets the refusal and must wait for the file.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    server
        .post(
            "/admin/secret",
            json!({ "client_id": "rot", "client_secret": "new-secret" }),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    replace_file(&path, "new-secret");
    let tally = callers.await.unwrap();
    assert_eq!(tally.failed.load(Ordering::Relaxed), 0);
    // Tokens were issued with the new secret after the rotation (7 s of 2 s tokens), and the
    // server really refused the old one.
    let requests = server.token_requests("rot").await;
    assert!(requests >= 4, "{requests}");
    // The renewal at 1.9 s met the refusal: the second level of rotation was exercised.
    assert_eq!(server.stats().await["refused_grants"]["rot"], 1);
    let refused = server
        .admin
        .post(server.token_url())
        .basic_auth("rot", Some("old-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_down_valid_token_serves_then_a_clear_error_then_recovery_within_a_poll() {
    let ttl = 7;
    let server = AuthServer::start(ttl, json!([client("down", "s3cret-1")]));
    let dir = tempfile::tempdir().unwrap();
    let secret = Source::file(secret_file(dir.path(), "s3cret-1"));
    let client = client_for(
        &server,
        Source::oauth2_client_credentials(&server.token_url(), "down", secret),
    )
    .await;
    let issued = Instant::now();
    server
        .post("/admin/token-down", json!({ "ms": 9000 }))
        .await;
    let back_at = Instant::now() + Duration::from_millis(9000);
    // Down for 6.5 s while the token is valid (renewals in the advisory and mandatory windows
    // fail): every request is served.
    let mut served = 0;
    while issued.elapsed() < Duration::from_millis(ttl * 1000 - 300) {
        let resp = client.get("/api").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served > 100, "{served}");
    // Expired, endpoint still down: an error that says so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = client.get("/api").send().await.unwrap_err();
    let shown = err.to_string();
    assert!(err.is_source(), "{shown}");
    assert!(
        shown.contains("expired") && shown.contains("token endpoint"),
        "{shown}"
    );
    assert!(shown.contains("oauth2:http://127.0.0.1"), "{shown}");
    // Back: served again within one retry spacing (1 s).
    tokio::time::sleep(back_at.saturating_duration_since(Instant::now())).await;
    let back = Instant::now();
    loop {
        if let Ok(resp) = client.get("/api").send().await {
            assert_eq!(resp.status(), 200);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovery = back.elapsed();
    eprintln!("recovered {recovery:?} after the endpoint came back");
    assert!(recovery <= Duration::from_millis(1200), "{recovery:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_post_and_private_key_jwt_are_accepted_by_the_server() {
    let key = p256_test_key();
    let server = AuthServer::start(
        60,
        json!([
            { "client_id": "poster", "client_secret": "p0st-secret", "auth_method": "client_secret_post" },
            { "client_id": "signer", "auth_method": "private_key_jwt", "public_key_pem": key.1 },
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let post = Source::oauth2_client_credentials(
        &server.token_url(),
        "poster",
        Source::file(secret_file(dir.path(), "p0st-secret")),
    )
    .auth_method(ClientAuthMethod::ClientSecretPost);
    let pem_path = dir.path().join("key.pem");
    std::fs::write(&pem_path, &key.0).unwrap();
    let jwt =
        Source::oauth2_client_credentials(&server.token_url(), "signer", Source::file(&pem_path))
            .auth_method(ClientAuthMethod::PrivateKeyJwt);
    for source in [post, jwt] {
        let client = client_for(&server, source).await;
        let resp = client.get("/api").send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Basic with the wrong secret: refused, and the error says how, without the secret.
    let wrong = Source::oauth2_client_credentials(
        &server.token_url(),
        "poster",
        Source::file(secret_file(dir.path(), "not-the-s3cret")),
    )
    .auth_method(ClientAuthMethod::ClientSecretPost)
    .await_secret(Duration::from_millis(200));
    let err = keyswap::Client::builder()
        .source(wrong)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_client") && err.contains("has not changed"),
        "{err}"
    );
    assert!(!err.contains("not-the-s3cret"), "{err}");
}

/// A P-256 key pair for `private_key_jwt`: (PKCS#8 private PEM, SPKI public PEM).
fn p256_test_key() -> (String, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::from_slice(&[42u8; 32]).unwrap();
    let private = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (private, public)
}
