//! The fault matrix: source faults (file and endpoint) × server faults. In every cell the last
//! good key keeps serving, the error is counted, and the client recovers by itself.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Api, KEY_HEADER, eventually, version_of, write_atomic};
use keyswap::{Auth, Client, Source};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Checks one cell: the fault is in place; a forced refresh fails and is counted; requests
/// keep working with the last good key; the server then answers 401 to everything (a second,
/// server-side fault): each request makes the documented attempts only, and no rotation
/// happens; after `heal`, the client follows the new key by itself.
async fn cell(what: &str, client: &Client, api: &Api, good: &str, heal: impl FnOnce()) {
    let before = client.stats();
    assert!(client.refresh().await.is_err(), "{what}: the fault is seen");
    assert_eq!(
        client.stats().source_errors,
        before.source_errors + 1,
        "{what}: counted"
    );
    assert_eq!(client.credential_version(), version_of(good), "{what}");
    assert_eq!(
        client.get("/x").send().await.unwrap().status(),
        200,
        "{what}"
    );

    // Server fault on top: every attempt is rejected.
    api.accept_only(&[]);
    let seen = api.requests();
    let resp = client.get("/x").send().await.unwrap();
    assert_eq!(resp.status(), 401, "{what}: the server's answer, unchanged");
    assert_eq!(
        api.requests() - seen,
        1,
        "{what}: no newer key, no previous: the one attempt"
    );
    assert_eq!(client.credential_version(), version_of(good), "{what}");

    heal();
    api.accept_only(&["healed"]);
    let recovered = eventually(Duration::from_secs(5), || {
        client.credential_version() == version_of("healed")
    })
    .await;
    if !recovered {
        // Sources without a change signal recover on the next load (a request's 401 here).
        assert_eq!(
            client.get("/x").send().await.unwrap().status(),
            200,
            "{what}"
        );
    }
    assert_eq!(client.credential_version(), version_of("healed"), "{what}");
    assert_eq!(
        client.get("/x").send().await.unwrap().status(),
        200,
        "{what}"
    );
}

async fn file_client(path: &std::path::Path, api_server: &MockServer) -> Client {
    Client::builder()
        .source(Source::file(path).debounce(Duration::from_millis(5)))
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .rotation_policy(
            keyswap::RotationPolicy::default()
                .await_rotation(Duration::ZERO)
                .overlap_window(Duration::ZERO),
        )
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn file_faults() {
    let (api_server, api) = Api::start(&["good"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");

    // Deleted, then re-created.
    write_atomic(&path, b"good");
    let client = file_client(&path, &api_server).await;
    std::fs::remove_file(&path).unwrap();
    cell("deleted", &client, &api, "good", || {
        write_atomic(&path, b"healed")
    })
    .await;

    // A directory where the file was, then a file again.
    api.accept_only(&["good"]);
    write_atomic(&path, b"good");
    let client = file_client(&path, &api_server).await;
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    cell("directory", &client, &api, "good", || {
        std::fs::remove_dir(&path).unwrap();
        write_atomic(&path, b"healed");
    })
    .await;

    // A symlink to nowhere (a Kubernetes volume mid-swap gone wrong), then repaired.
    api.accept_only(&["good"]);
    write_atomic(&path, b"good");
    let client = file_client(&path, &api_server).await;
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &path).unwrap();
    cell("dangling symlink", &client, &api, "good", || {
        std::fs::write(dir.path().join("nowhere"), "healed").unwrap();
    })
    .await;

    // The parent directory replaced as a whole (renamed away, a new one moved in).
    api.accept_only(&["good"]);
    let sub = dir.path().join("secrets");
    std::fs::create_dir(&sub).unwrap();
    let inner = sub.join("api_key");
    write_atomic(&inner, b"good");
    let client = file_client(&inner, &api_server).await;
    std::fs::rename(&sub, dir.path().join("secrets.old")).unwrap();
    cell("directory replaced", &client, &api, "good", || {
        let staged = dir.path().join("secrets.new");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("api_key"), "healed").unwrap();
        std::fs::rename(&staged, &sub).unwrap();
    })
    .await;
}

/// An endpoint whose behaviour the test switches.
#[derive(Clone)]
struct Faulty(Arc<Mutex<ResponseTemplate>>);

impl Respond for Faulty {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.lock().unwrap().clone()
    }
}

fn key_body(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "key": key }))
}

async fn endpoint_client(url: &str, api_server: &MockServer) -> Client {
    Client::builder()
        .source(
            Source::http(url)
                .key_pointer("/key")
                .timeout(Duration::from_millis(300))
                .reuse_window(Duration::ZERO)
                .poll_interval(Some(Duration::from_millis(100))),
        )
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .rotation_policy(
            keyswap::RotationPolicy::default()
                .await_rotation(Duration::ZERO)
                .overlap_window(Duration::ZERO),
        )
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn endpoint_faults() {
    let (api_server, api) = Api::start(&["good"]).await;
    let endpoint = Faulty(Arc::new(Mutex::new(key_body("good"))));
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(endpoint.clone())
        .mount(&server)
        .await;
    let url = format!("{}/secret", server.uri());
    let faults = [
        ("500", ResponseTemplate::new(500)),
        (
            "429 + Retry-After",
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ),
        (
            "timeout",
            key_body("late").set_delay(Duration::from_secs(2)),
        ),
        (
            "invalid JSON",
            ResponseTemplate::new(200).set_body_string("{\"key\": \"half"),
        ),
        (
            "10 MiB body",
            ResponseTemplate::new(200).set_body_bytes(vec![b' '; 10 * 1024 * 1024]),
        ),
        (
            "redirect",
            ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
        ),
    ];
    for (what, fault) in faults {
        api.accept_only(&["good"]);
        *endpoint.0.lock().unwrap() = key_body("good");
        let client = endpoint_client(&url, &api_server).await;
        *endpoint.0.lock().unwrap() = fault;
        let healed = endpoint.clone();
        cell(what, &client, &api, "good", move || {
            *healed.0.lock().unwrap() = key_body("healed");
        })
        .await;
    }
}

/// A TCP endpoint that misbehaves below HTTP: resets connections, or drips a body.
async fn raw_endpoint(mode: &'static str) -> (String, Arc<Mutex<bool>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let healed = Arc::new(Mutex::new(false));
    let flag = healed.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let healed = *flag.lock().unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                if healed {
                    let body = r#"{"key":"healed"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                } else if mode == "reset" {
                    // Closed with the request unanswered: the client sees the connection end.
                    drop(sock);
                } else {
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n{")
                        .await;
                    for _ in 0..100 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if sock.write_all(b" ").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}/secret"), healed)
}

#[tokio::test]
async fn endpoint_connection_faults() {
    let (api_server, api) = Api::start(&["good"]).await;
    for mode in ["reset", "slow drip"] {
        api.accept_only(&["good"]);
        let (url, healed) = raw_endpoint(mode).await;
        let client = Client::builder()
            .source(
                Source::http(&url)
                    .key_pointer("/key")
                    .timeout(Duration::from_millis(300))
                    .reuse_window(Duration::ZERO)
                    .poll_interval(Some(Duration::from_millis(100))),
            )
            .auth(Auth::header(KEY_HEADER))
            .base_url(api_server.uri())
            .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
            .build()
            .await;
        // The first load already meets the fault: the build fails fast, naming it.
        let err = client.unwrap_err();
        assert!(err.is_source(), "{mode}: {err}");
        *healed.lock().unwrap() = true;
        let client = endpoint_client(&url, &api_server).await;
        *healed.lock().unwrap() = false;
        api.accept_only(&["healed"]);
        let before = client.stats();
        assert!(client.refresh().await.is_err(), "{mode}");
        assert_eq!(client.stats().source_errors, before.source_errors + 1);
        assert_eq!(
            client.get("/x").send().await.unwrap().status(),
            200,
            "{mode}"
        );
    }
}

#[tokio::test]
async fn connection_errors_are_never_auth_failures() {
    let (_server, api) = Api::start(&["good"]).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder()
        .source(Source::fixed("good"))
        .auth(Auth::header(KEY_HEADER))
        .build()
        .await
        .unwrap();
    let err = client.get(format!("{closed}/x")).send().await.unwrap_err();
    assert!(err.is_request() && err.is_connect(), "{err}");
    let stats = client.stats();
    assert_eq!(
        (stats.auth_failures, stats.refreshes, stats.retries),
        (0, 0, 0)
    );
    assert_eq!(api.requests(), 0);
}

#[tokio::test]
async fn concurrent_rejections_of_a_dead_key_do_not_storm_the_source() {
    let (server, api) = Api::start(&[]).await;
    let source = common::ManualSource::new("dead").with_delay(Duration::from_millis(30));
    let client = Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .base_url(server.uri())
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(300)),
        )
        .build()
        .await
        .unwrap();
    let at_build = source.loads();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    // Single-flight refreshes during the shared 300 ms wait: a load every 100 ms or so, not
    // one per request.
    let loads = source.loads() - at_build;
    assert!(loads <= 8, "{loads} loads for 64 rejected requests");
    assert_eq!(
        api.requests(),
        64,
        "one attempt each: no newer key, no previous"
    );
    assert_eq!(client.stats().rotation_waits, 1);
}
