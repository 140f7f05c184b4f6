//! keyswap's main job, on a local stage: an API that rotates its key every ~0.5 s and revokes
//! the old one at once, a rotator that writes the new key to a file a little later, and
//! concurrent consumers that keep calling the API through one `keyswap::Client`.
//!
//! ```sh
//! cargo run --example demo                      # 8 consumers, 7 s
//! cargo run --example demo -- --consumers 32 --seconds 15 --rotate-ms 300 --lag-ms 200
//! ```
//!
//! Expect `failures seen by consumers: 0`. The exit status is 1 otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyswap::{Auth, Client, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Options {
    consumers: usize,
    seconds: u64,
    rotate_ms: u64,
    lag_ms: u64,
}

fn options() -> Options {
    let mut opts = Options {
        consumers: 8,
        seconds: 7,
        rotate_ms: 500,
        lag_ms: 150,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number after each flag")
        };
        match pair[0].as_str() {
            "--consumers" => opts.consumers = value() as usize,
            "--seconds" => opts.seconds = value(),
            "--rotate-ms" => opts.rotate_ms = value(),
            "--lag-ms" => opts.lag_ms = value(),
            other => {
                panic!("unknown flag {other}; flags: --consumers --seconds --rotate-ms --lag-ms")
            }
        }
    }
    opts
}

/// The API: accepts exactly one key, the current one. Rotation revokes the old key at once.
#[derive(Clone, Default)]
struct Api {
    current: Arc<Mutex<String>>,
    served: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
}

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key == Some(self.current.lock().unwrap().as_str()) {
            self.served.fetch_add(1, Ordering::Relaxed);
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"symbol": "BTCUSDT", "price": "97123.45"}))
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "invalid API key"}))
        }
    }
}

fn new_key() -> String {
    format!("ks_{:016x}", fastrand::u64(..))
}

/// Alternates the two ways a plain file gets rewritten: rename over it, and in place.
fn write_key(path: &std::path::Path, key: &str, in_place: bool) -> std::io::Result<()> {
    if in_place {
        std::fs::write(path, key)
    } else {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, key)?;
        std::fs::rename(tmp, path)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = options();
    let api = Api::default();
    let first = new_key();
    *api.current.lock().unwrap() = first.clone();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(api.clone())
        .mount(&server)
        .await;

    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    write_key(&key_file, &first, false)?;

    let started = Instant::now();
    let client = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("X-API-Key"))
        .base_url(server.uri())
        .on_rotate(move |r| {
            println!(
                "{:>7.3}s  client rotated {} -> {}",
                started.elapsed().as_secs_f64(),
                r.old_version,
                r.new_version
            );
        })
        .build()
        .await?;
    println!(
        "API at {} (hard revocation every {} ms, key file updated {} ms later); {} consumers for {} s",
        server.uri(),
        opts.rotate_ms,
        opts.lag_ms,
        opts.consumers,
        opts.seconds
    );

    let deadline = started + Duration::from_secs(opts.seconds);
    let rotator = {
        let api = api.clone();
        let key_file = key_file.clone();
        tokio::spawn(async move {
            let mut server_rotations = 0u64;
            while Instant::now() + Duration::from_millis(opts.rotate_ms) < deadline {
                tokio::time::sleep(Duration::from_millis(opts.rotate_ms)).await;
                let key = new_key();
                *api.current.lock().unwrap() = key.clone(); // the old key stops working now
                server_rotations += 1;
                tokio::time::sleep(Duration::from_millis(opts.lag_ms)).await;
                write_key(&key_file, &key, server_rotations % 2 == 0).expect("write key file");
            }
            server_rotations
        })
    };

    let failures = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..opts.consumers)
        .map(|_| {
            let client = client.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    sent += 1;
                    match client
                        .get("/v1/ticker")
                        .query(&[("symbol", "BTCUSDT")])
                        .send()
                        .await
                    {
                        Ok(resp) if resp.status().is_success() => {
                            resp.bytes().await.ok();
                        }
                        Ok(resp) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("consumer saw HTTP {}", resp.status());
                        }
                        Err(err) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("consumer saw error: {err}");
                        }
                    }
                }
                sent
            })
        })
        .collect();

    let mut requests = 0;
    for consumer in consumers {
        requests += consumer.await?;
    }
    let server_rotations = rotator.await?;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = client.stats();
    let failures = failures.load(Ordering::Relaxed);

    println!();
    println!(
        "requests by consumers:        {requests} ({:.0}/s)",
        requests as f64 / elapsed
    );
    println!("failures seen by consumers:   {failures}");
    println!("401s absorbed by keyswap:     {}", stats.auth_failures);
    println!("server rotations (revoking):  {server_rotations}");
    println!("client rotations:             {}", stats.rotations);
    println!(
        "retries {} · refreshes {} · shared waits {} · fallbacks {} · source errors {}",
        stats.retries, stats.refreshes, stats.rotation_waits, stats.fallbacks, stats.source_errors
    );
    println!(
        "server: {} served, {} rejected",
        api.served.load(Ordering::Relaxed),
        api.rejected.load(Ordering::Relaxed)
    );
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
