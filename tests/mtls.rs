//! Client certificates (mTLS) that rotate, against a real rustls server that requires them
//! (`common/mtls.rs`), with certificates rcgen issues during the test.

mod common;
#[path = "common/mtls.rs"]
mod mtls_server;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::K8sVolume;
use keyswap::tls::{IdentitySource, TrustSource};
use keyswap::{Auth, Client, Source};
use mtls_server::{Ca, Leaf, MtlsServer};

const HOUR: Duration = Duration::from_secs(3600);

fn server_leaf(ca: &Ca, lifetime: Duration) -> Leaf {
    ca.issue(&["localhost", "127.0.0.1"], lifetime)
}

fn files<'a>(leaf: &'a Leaf, ca: &'a Ca) -> [(&'static str, &'a [u8]); 3] {
    [
        ("tls.crt", leaf.cert_pem.as_bytes()),
        ("tls.key", leaf.key_pem.as_bytes()),
        ("ca.crt", ca.pem.as_bytes()),
    ]
}

async fn mtls_client(dir: &Path, server: &MtlsServer) -> Client {
    Client::builder()
        .identity(IdentitySource::kubernetes(dir))
        .trust(TrustSource::kubernetes(dir))
        .base_url(server.url.replace("localhost", "127.0.0.1"))
        .build()
        .await
        .unwrap()
}

/// `callers` tasks sending `GET /` until `stop`; returns (successes, failures with reasons).
fn callers(
    client: &Client,
    n: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(usize, Vec<String>)>> {
    (0..n)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failures) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match client.get("/").send().await {
                        Ok(resp) if resp.status() == 200 => ok += 1,
                        Ok(resp) => failures.push(format!("status {}", resp.status())),
                        Err(err) => failures.push(format!("{err:?}")),
                    }
                }
                (ok, failures)
            })
        })
        .collect()
}

async fn join(tasks: Vec<tokio::task::JoinHandle<(usize, Vec<String>)>>) -> (usize, Vec<String>) {
    let (mut ok, mut failures) = (0, Vec::new());
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failures.extend(f);
    }
    (ok, failures)
}

/// Waits (bounded) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_every_half_second_with_hard_revocation() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let first = client_ca.client(HOUR);
    server.trust_only(&first);
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&first, &server_ca));
    let client = mtls_client(dir.path(), &server).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = callers(&client, 8, &stop);
    let rotations = 8;
    for _ in 0..rotations {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = client_ca.client(HOUR);
        // Hard revocation: the server trusts only the new certificate from now on, and the
        // new certificate reaches the client's volume a moment later.
        server.trust_only(&next);
        tokio::time::sleep(Duration::from_millis(100)).await;
        volume.update(&files(&next, &server_ca));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = join(tasks).await;

    let stats = client.tls_stats().unwrap();
    eprintln!(
        "ok={ok} failures={} server={{requests: {}, refused: {}, handshake refusals: {}, handshakes: {}}} {stats:?}",
        failures.len(),
        server.count(|c| &c.requests),
        server.count(|c| &c.refused_requests),
        server.count(|c| &c.handshake_refusals),
        server.count(|c| &c.handshakes),
    );
    assert!(failures.is_empty(), "consumers saw failures: {failures:?}");
    assert!(ok > 100, "too few requests to mean anything: {ok}");
    // A request can meet a refused connection only in the microseconds between the server's
    // refusal arriving (the pool gets the connection back) and keyswap reading it, which
    // retires the pool at once: a request already on its way then. Never more than that
    // (`a_refused_connection_carries_no_further_request` checks it without the race).
    assert!(
        server.count(|c| &c.after_refusal) <= rotations as usize,
        "requests kept going to refused connections: {}",
        server.count(|c| &c.after_refusal)
    );
    assert!(
        server.count(|c| &c.refused_requests) + server.count(|c| &c.handshake_refusals) > 0,
        "the server never refused anything: revocation was not exercised"
    );
    assert_eq!(stats.identity_rotations, rotations);
    assert!(stats.handshakes >= rotations, "{stats:?}");
}

#[tokio::test]
async fn a_refused_connection_carries_no_further_request() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let first = client_ca.client(HOUR);
    server.trust_only(&first);
    let dir = tempfile::tempdir().unwrap();
    K8sVolume::create(dir.path(), &files(&first, &server_ca));
    let client = Client::builder()
        .identity(IdentitySource::kubernetes(dir.path()))
        .trust(TrustSource::kubernetes(dir.path()))
        .base_url(server.url.replace("localhost", "127.0.0.1"))
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(200)),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(client.get("/").send().await.unwrap().status(), 200);
    assert_eq!(server.count(|c| &c.handshakes), 1);
    // Revoked, and no new certificate comes: the open connection is refused with 403 ...
    server.trust_only(&client_ca.client(HOUR));
    let refused = client.get("/").send().await.unwrap();
    assert_eq!(refused.status(), 403);
    drop(refused);
    // ... and never carries another request: the next one opens a new connection, whose
    // handshake the server refuses.
    let err = client.get("/").send().await.unwrap_err();
    assert!(err.is_certificate_rejected(), "{err}");
    assert_eq!(server.count(|c| &c.after_refusal), 0);
    assert_eq!(
        server.count(|c| &c.handshake_refusals),
        2,
        "the request and its retry"
    );
}

#[tokio::test]
async fn sessions_of_a_retired_identity_are_not_resumed() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    // The server resumes sessions, and accepts every certificate of its CA.
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let (first, second) = (client_ca.client(HOUR), client_ca.client(HOUR));
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&first, &server_ca));
    let client = mtls_client(dir.path(), &server).await;
    for _ in 0..3 {
        // A new connection each time: the later ones resume the first one's session.
        let resp = client
            .get("/")
            .header("connection", "close")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    let version = client.identity_version().unwrap();
    volume.update(&files(&second, &server_ca));
    eventually("the rotation", || {
        client.identity_version().unwrap() != version
    })
    .await;
    let before = server.peers.lock().unwrap().len();
    for _ in 0..3 {
        let resp = client
            .get("/")
            .header("connection", "close")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    let peers = server.peers.lock().unwrap();
    assert_eq!(peers.len(), before + 3);
    assert!(
        peers[before..].iter().all(|p| *p == second.der),
        "a connection after the rotation presented (or resumed) the old certificate"
    );
    assert!(peers[..before].iter().all(|p| *p == first.der));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_certificates_reissued_before_expiry() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    // The server accepts any valid certificate of the CA; webpki refuses expired ones.
    let lifetime = Duration::from_secs(2);
    let first = client_ca.client(lifetime);
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&first, &server_ca));
    let client = mtls_client(dir.path(), &server).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = callers(&client, 8, &stop);
    for _ in 0..5 {
        // Re-issued 1 s before the current one expires.
        tokio::time::sleep(Duration::from_secs(1)).await;
        volume.update(&files(&client_ca.client(lifetime), &server_ca));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = join(tasks).await;
    let stats = client.tls_stats().unwrap();
    eprintln!("ok={ok} {stats:?}");
    assert!(failures.is_empty(), "consumers saw failures: {failures:?}");
    assert!(ok > 100, "too few requests: {ok}");
    assert_eq!(server.count(|c| &c.expired_presented), 0);
    assert_eq!(stats.identity_rotations, 5);
    assert!(
        stats.handshakes >= 6,
        "each certificate opened connections: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_garbage_and_huge_identities_are_refused_and_the_last_good_keeps_serving() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let good = client_ca.client(HOUR);
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&good, &server_ca));
    let client = mtls_client(dir.path(), &server).await;
    let version = client.identity_version().unwrap();
    assert!(!version.is_empty());

    let next = client_ca.client(HOUR);
    let huge = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        "A".repeat(10 * 1024 * 1024)
    );
    let bad: [(&str, Vec<u8>, Vec<u8>); 3] = [
        (
            "torn pair",
            next.cert_pem.clone().into_bytes(),
            good.key_pem.clone().into_bytes(),
        ),
        (
            "garbage",
            b"this is not a certificate".to_vec(),
            b"nor a key".to_vec(),
        ),
        (
            "10 MiB",
            huge.into_bytes(),
            good.key_pem.clone().into_bytes(),
        ),
    ];
    for (what, cert, key) in bad {
        let errors = client.tls_stats().unwrap().identity_errors;
        volume.update(&[
            ("tls.crt", &cert),
            ("tls.key", &key),
            ("ca.crt", server_ca.pem.as_bytes()),
        ]);
        eventually(what, || {
            client.tls_stats().unwrap().identity_errors > errors
        })
        .await;
        assert_eq!(client.identity_version().unwrap(), version, "{what}");
        // A new connection (its own pool) presents the last good identity.
        let resp = client.get("/").send().await.unwrap();
        assert_eq!(resp.status(), 200, "{what}");
    }
    // And a good pair is taken at once.
    volume.update(&files(&next, &server_ca));
    eventually("the good pair", || {
        client.identity_version().unwrap() != version
    })
    .await;
    assert_eq!(client.get("/").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_bad_first_identity_fails_the_build_naming_the_cause_not_the_key() {
    let ca = Ca::new("clients");
    let (a, b) = (ca.client(HOUR), ca.client(HOUR));
    let dir = tempfile::tempdir().unwrap();
    let write = |cert: &[u8], key: &[u8]| {
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
    };
    let build = || async {
        Client::builder()
            .identity(IdentitySource::kubernetes(dir.path()))
            .build()
            .await
            .unwrap_err()
    };
    write(a.cert_pem.as_bytes(), b.key_pem.as_bytes());
    let torn = build().await;
    write(b"garbage", b"garbage");
    let garbage = build().await;
    write(&vec![b'A'; 10 << 20], a.key_pem.as_bytes());
    let huge = build().await;
    for (err, says) in [
        (&torn, "does not match the private key"),
        (&garbage, "no certificate"),
        (&huge, "over the limit"),
    ] {
        let text = format!("{err} {err:?}");
        assert!(err.is_source(), "{text}");
        assert!(text.contains(says), "{text}");
        assert!(text.contains("tls.crt"), "names the source: {text}");
        let key_body: String = b.key_pem.lines().nth(1).unwrap().to_owned();
        assert!(!text.contains(&key_body), "leaks the key: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificate_reissued_under_a_new_ca() {
    let client_ca = Ca::new("clients");
    let (old_ca, new_ca) = (Ca::new("servers-2026"), Ca::new("servers-2027"));
    // Full handshakes only: a resumed session would not show the server's certificate again.
    let server = MtlsServer::start_with(&client_ca, &server_leaf(&old_ca, HOUR), false).await;
    server.close_after(10);
    let leaf = client_ca.client(HOUR);
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&leaf, &old_ca));
    let client = mtls_client(dir.path(), &server).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = callers(&client, 8, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The bundle gets the new CA, and the server switches at once (before the watch delivers).
    volume.update(&files(&leaf, &new_ca));
    server.present(&server_leaf(&new_ca, HOUR));
    let handshakes = server.count(|c| &c.handshakes);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = join(tasks).await;
    assert!(failures.is_empty(), "consumers saw failures: {failures:?}");
    assert!(ok > 50, "{ok}");
    assert!(
        server.count(|c| &c.handshakes) > handshakes + 8,
        "new connections were verified against the new CA"
    );
    assert_eq!(client.tls_stats().unwrap().trust_rotations, 1);
}

#[tokio::test]
async fn a_revoked_identity_with_nothing_newer_fails_naming_the_alert_after_a_bounded_wait() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let leaf = client_ca.client(HOUR);
    server.trust_only(&client_ca.client(HOUR)); // another one: ours is revoked
    let dir = tempfile::tempdir().unwrap();
    K8sVolume::create(dir.path(), &files(&leaf, &server_ca));
    let client = Client::builder()
        .identity(IdentitySource::kubernetes(dir.path()))
        .trust(TrustSource::kubernetes(dir.path()))
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(300)),
        )
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = client
        .get(server.url.replace("localhost", "127.0.0.1"))
        .send()
        .await
        .unwrap_err();
    let took = started.elapsed();
    let text = format!("{err:#}"); // the message and its cause chain (the alert)
    assert!(err.is_certificate_rejected(), "{text}");
    assert!(text.contains("certificate_revoked"), "{text}");
    assert!(text.contains("refused the client certificate"), "{text}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The first attempt, then one retry on a new connection with the refreshed (same)
    // identity; then the bounded wait, and no more attempts.
    assert_eq!(server.count(|c| &c.handshake_refusals), 2);
    assert_eq!(client.tls_stats().unwrap().identity_rejections, 1);
}

#[tokio::test]
async fn other_tls_errors_are_not_retried() {
    let (client_ca, server_ca, stranger) = (Ca::new("clients"), Ca::new("servers"), Ca::new("x"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&stranger, HOUR)).await;
    let dir = tempfile::tempdir().unwrap();
    K8sVolume::create(dir.path(), &files(&client_ca.client(HOUR), &server_ca));
    let client = mtls_client(dir.path(), &server).await;
    let err = client.get("/").send().await.unwrap_err();
    assert!(
        err.is_request() && !err.is_certificate_rejected(),
        "{err:?}"
    );
    assert_eq!(server.count(|c| &c.handshakes), 1, "not retried");
    assert_eq!(client.tls_stats().unwrap().identity_rejections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_and_an_identity_rotate_independently() {
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let first = client_ca.client(HOUR);
    server.trust_only(&first);
    server.require_keys(&["key-1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut volume = K8sVolume::create(dir.path(), &files(&first, &server_ca));
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("api_key");
    std::fs::write(&key_file, "key-1").unwrap();
    let client = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("x-api-key"))
        .identity(IdentitySource::kubernetes(dir.path()))
        .trust(TrustSource::kubernetes(dir.path()))
        .base_url(server.url.replace("localhost", "127.0.0.1"))
        .build()
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = callers(&client, 8, &stop);
    let round = AtomicUsize::new(1);
    for i in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if i % 2 == 0 {
            let n = round.fetch_add(1, Ordering::Relaxed) + 1;
            let key = format!("key-{n}");
            server.require_keys(&[&key]);
            tokio::time::sleep(Duration::from_millis(50)).await;
            common::write_atomic(&key_file, key.as_bytes());
        } else {
            let next = client_ca.client(HOUR);
            server.trust_only(&next);
            tokio::time::sleep(Duration::from_millis(50)).await;
            volume.update(&files(&next, &server_ca));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = join(tasks).await;
    assert!(failures.is_empty(), "consumers saw failures: {failures:?}");
    assert!(ok > 50, "{ok}");
    assert_eq!(client.stats().rotations, 3);
    assert_eq!(client.tls_stats().unwrap().identity_rotations, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_from_a_json_endpoint_in_vault_pki_shape() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let (client_ca, server_ca) = (Ca::new("clients"), Ca::new("servers"));
    let server = MtlsServer::start(&client_ca, &server_leaf(&server_ca, HOUR)).await;
    let leaf = client_ca.client(HOUR);
    server.trust_only(&leaf);
    let vault = MockServer::start().await;
    Mock::given(path("/v1/pki/cert/client"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {
                "certificate": leaf.cert_pem,
                "private_key": leaf.key_pem,
                "ca_chain": [client_ca.pem],
            }
        })))
        .mount(&vault)
        .await;
    let ca = tempfile::tempdir().unwrap();
    std::fs::write(ca.path().join("ca.crt"), &server_ca.pem).unwrap();
    let pki = Source::http(&format!("{}/v1/pki/cert/client", vault.uri()))
        .key_pointer("/data/certificate")
        .secret_pointer("/data/private_key");
    let client = Client::builder()
        .identity(IdentitySource::from_source(pki))
        .trust(TrustSource::kubernetes(ca.path()))
        .base_url(server.url.replace("localhost", "127.0.0.1"))
        .build()
        .await
        .unwrap();
    assert_eq!(client.get("/").send().await.unwrap().status(), 200);
    assert!(
        client
            .tls_stats()
            .is_some_and(|s| s.handshakes == 1 && s.identity_errors == 0)
    );
}
