//! The AWS Secrets Manager source against a real moto server (`moto_server`, from the pip
//! package `moto[server]`) on 127.0.0.1: SigV4-signed `GetSecretValue`, rotation by
//! `PutSecretValue` while the client is in use, and `AWSPREVIOUS` as the overlap fallback.
//!
//! `scripts/test.sh` installs moto into `.venv-test/` and exports `KEYSWAP_MOTO_SERVER`;
//! otherwise `moto_server` must be on `PATH`. Without it this test fails and says so.
#![cfg(feature = "aws")]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, KEY_HEADER};
use keyswap::{Auth, Client, Source};
use serde_json::{Value, json};

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> String {
    if let Ok(path) = std::env::var("KEYSWAP_MOTO_SERVER") {
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(path) => path.display().to_string(),
        None => panic!(
            "moto_server not found: this test needs a real moto server. Run scripts/test.sh \
             (it installs moto[server] into .venv-test/ and sets KEYSWAP_MOTO_SERVER), or \
             `pip install 'moto[server]'`, or set KEYSWAP_MOTO_SERVER=/path/to/moto_server"
        ),
    }
}

/// moto accepts any credentials; the source reads them from the standard variables. Every
/// test sets the same values, so concurrent tests cannot observe a different one.
fn fake_aws_credentials() {
    // SAFETY (edition 2024): all writers write identical values before using them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_SESSION_TOKEN", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
}

async fn start_moto() -> Moto {
    fake_aws_credentials();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = moto_binary();
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto_server ({binary}): {e}"));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        if http
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            .is_ok()
        {
            return moto;
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An admin call to moto (it does not check signatures; the scope names the region).
async fn moto_call(moto: &Moto, action: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(&moto.url)
        .header("x-amz-target", format!("secretsmanager.{action}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{action}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_put_secret_value_rotation_and_falls_back_to_awsprevious() {
    let moto = start_moto().await;
    let created = moto_call(
        &moto,
        "CreateSecret",
        json!({"Name": "prod/exchange", "SecretString": "{\"api_key\":\"k1\",\"api_secret\":\"s1\"}"}),
    )
    .await;
    let v1 = created["VersionId"].as_str().unwrap().to_owned();

    let (api_server, api) = Api::start(&["k1"]).await;
    let source = || {
        Source::aws_secrets_manager("prod/exchange")
            .endpoint(&moto.url)
            .json_key("api_key")
            .json_secret("api_secret")
            .poll_interval(Some(Duration::from_millis(300)))
    };
    let client = Client::builder()
        .source(source())
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .build()
        .await
        .unwrap();
    assert_eq!(client.credential_version(), v1);

    // Consumers call the API continuously while the secret is rotated.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop, failures, calls) = (
                client.clone(),
                stop.clone(),
                failures.clone(),
                calls.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let status = client.get("/v1/orders").send().await.unwrap().status();
                    calls.fetch_add(1, Ordering::SeqCst);
                    if status != 200 {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Rotation: the new version becomes AWSCURRENT, the API starts accepting it, and a
    // moment later revokes the old one.
    let put = moto_call(
        &moto,
        "PutSecretValue",
        json!({"SecretId": "prod/exchange", "SecretString": "{\"api_key\":\"k2\",\"api_secret\":\"s2\"}"}),
    )
    .await;
    let v2 = put["VersionId"].as_str().unwrap().to_owned();
    api.accept_only(&["k1", "k2"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.accept_only(&["k2"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    assert!(calls.load(Ordering::SeqCst) > 20);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no consumer-visible failure"
    );
    assert_eq!(client.credential_version(), v2);
    assert!(client.stats().rotations >= 1);
    assert_eq!(client.stats().source_errors, 0);
    let after_rotation = api.seen();
    assert_eq!(after_rotation.last().unwrap().as_deref(), Some("k2"));

    // A client started after the rotation, while the API still only knows the old key
    // (propagation lag): AWSPREVIOUS is its overlap fallback.
    api.accept_only(&["k1"]);
    let late = Client::builder()
        .source(source())
        .auth(Auth::header(KEY_HEADER))
        .base_url(api_server.uri())
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    assert_eq!(late.credential_version(), v2);
    let resp = late.get("/v1/orders").send().await.unwrap();
    assert_eq!(resp.status(), 200, "served with AWSPREVIOUS");
    assert_eq!(late.stats().fallbacks, 1);
    let seen = api.seen();
    assert_eq!(
        seen[seen.len() - 2..].to_vec(),
        vec![Some("k2".to_owned()), Some("k1".to_owned())]
    );
}

#[tokio::test]
async fn a_missing_secret_fails_the_build_naming_the_source_only() {
    let moto = start_moto().await;
    let err = Client::builder()
        .source(Source::aws_secrets_manager("does/not/exist").endpoint(&moto.url))
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("aws-secretsmanager:does/not/exist"), "{text}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    assert!(!text.contains("testing"), "{text}");
}
