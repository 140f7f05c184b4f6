//! keyswap under a tonic gRPC client (feature `tower`): a `tonic::transport::Channel` wrapped in
//! `KeyswapLayer`, calling a local gRPC server (tonic-health's `grpc.health.v1.Health`) whose
//! interceptor accepts only the current `x-api-key`. The server rotates the key with hard
//! revocation — the old key is rejected at once, the key file gets the new one 150 ms later —
//! while four tasks keep calling: every UNAUTHENTICATED is absorbed, no call fails.
//!
//! ```sh
//! cargo run --example tonic_grpc --features tower
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyswap::{Auth, Client, Source};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server, Uri};
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const ROTATIONS: usize = 4;
const WORKERS: usize = 4;

/// The server's side: the one key it accepts now, and what it saw.
#[derive(Clone)]
struct Gate {
    valid: Arc<Mutex<String>>,
    last_seen: Arc<Mutex<String>>,
    rejected: Arc<AtomicU64>,
}

impl Gate {
    fn new(key: &str) -> Self {
        Gate {
            valid: Arc::new(Mutex::new(key.to_owned())),
            last_seen: Arc::default(),
            rejected: Arc::default(),
        }
    }

    /// The interceptor: the call goes on only with the valid key.
    fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let key = request
            .metadata()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        *self.last_seen.lock().unwrap() = key.to_owned();
        if key == *self.valid.lock().unwrap() {
            Ok(request)
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            Err(Status::unauthenticated("invalid API key"))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The gRPC server, on 127.0.0.1.
    let gate = Gate::new("key-0");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let interceptor = gate.clone();
    let guarded = InterceptedService::new(health, move |r| interceptor.check(r));
    tokio::spawn(
        Server::builder()
            .add_service(guarded)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    // The client: the key from a file, as the `x-api-key` metadata of every call.
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    std::fs::write(&key_file, "key-0")?;
    let keys = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("x-api-key"))
        .build()
        .await?;
    let origin: Uri = format!("http://{addr}").parse()?;
    let channel = Endpoint::from(origin.clone()).connect().await?;
    let service = tower::ServiceBuilder::new()
        .layer(keyswap::tower::KeyswapLayer::new(keys.clone()))
        .map_request(|r: http::Request<keyswap::reqwest::Body>| r.map(tonic::body::Body::new))
        .service(channel);
    let client = HealthClient::with_origin(service, origin);

    // The rotations: revoke on the server first, update the file later.
    let done = Arc::new(AtomicBool::new(false));
    let rotator = {
        let (gate, done, key_file) = (gate.clone(), done.clone(), key_file.clone());
        tokio::spawn(async move {
            for i in 1..=ROTATIONS {
                tokio::time::sleep(Duration::from_millis(400)).await;
                let key = format!("key-{i}");
                *gate.valid.lock().unwrap() = key.clone();
                tokio::time::sleep(Duration::from_millis(150)).await;
                let tmp = key_file.with_extension("tmp");
                std::fs::write(&tmp, &key).unwrap();
                std::fs::rename(&tmp, &key_file).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            done.store(true, Ordering::Relaxed);
        })
    };

    let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (mut client, done) = (client.clone(), done.clone());
        let (calls, failed) = (calls.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                calls.fetch_add(1, Ordering::Relaxed);
                if let Err(status) = client.check(request).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("call failed: {:?} {}", status.code(), status.message());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    rotator.await?;
    for worker in workers {
        worker.await?;
    }

    let stats = keys.stats();
    let last_seen = gate.last_seen.lock().unwrap().clone();
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "calls: {} · failed: {failed} · rotations: {} · rejections absorbed: {} (server rejected {}) · key in use: {}",
        calls.load(Ordering::Relaxed),
        stats.rotations,
        stats.auth_failures,
        gate.rejected.load(Ordering::Relaxed),
        if last_seen == format!("key-{ROTATIONS}") {
            "the newest"
        } else {
            "NOT the newest"
        },
    );
    if failed > 0 || last_seen != format!("key-{ROTATIONS}") {
        std::process::exit(1);
    }
    Ok(())
}
