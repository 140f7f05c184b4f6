//! keyswap's main job, on a local stage: an API that rotates its key every 0.4–0.8 s, a
//! rotator that writes the new key to a file, and concurrent consumers that keep calling the
//! API through one `keyswap::Client`. Two modes:
//!
//! - `revoke` (default): the server switches to the new key and revokes the old one at once;
//!   the file follows `--lag-ms` later (the source lags the server).
//! - `propagate`: the file gets the new key first; the server keeps accepting only the old key
//!   for `--propagate-ms` (the new key is still propagating), then only the new one.
//!
//! ```sh
//! cargo run --example demo                      # 8 consumers, 7 s, hard revocation
//! cargo run --example demo -- --mode propagate  # the new key propagates for 300 ms
//! cargo run --example demo -- --consumers 32 --seconds 15 --rotate-ms 300 --lag-ms 200
//! ```
//!
//! Expect `failures seen by consumers: 0`, and few rejections per rotation (each is a failed
//! authentication the API's operator sees). The exit status is 1 on any consumer failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyswap::{Auth, Client, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Revoke,
    Propagate,
}

#[derive(Clone, Copy)]
struct Options {
    consumers: usize,
    seconds: u64,
    rotate_ms: u64,
    lag_ms: u64,
    propagate_ms: u64,
    mode: Mode,
}

fn options() -> Options {
    let mut opts = Options {
        consumers: 8,
        seconds: 7,
        rotate_ms: 600,
        lag_ms: 150,
        propagate_ms: 300,
        mode: Mode::Revoke,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number after each flag")
        };
        match pair[0].as_str() {
            "--mode" => {
                opts.mode = match pair.get(1).map(String::as_str) {
                    Some("revoke") => Mode::Revoke,
                    Some("propagate") => Mode::Propagate,
                    _ => panic!("--mode revoke|propagate"),
                }
            }
            "--propagate-ms" => opts.propagate_ms = value(),
            "--consumers" => opts.consumers = value() as usize,
            "--seconds" => opts.seconds = value(),
            "--rotate-ms" => opts.rotate_ms = value(),
            "--lag-ms" => opts.lag_ms = value(),
            other => {
                panic!(
                    "unknown flag {other}; flags: --mode --consumers --seconds --rotate-ms \
                     --lag-ms --propagate-ms"
                )
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
    let scenario = match opts.mode {
        Mode::Revoke => format!(
            "hard revocation every {}±33% ms, key file updated {} ms later",
            opts.rotate_ms, opts.lag_ms
        ),
        Mode::Propagate => format!(
            "rotation every {}±33% ms, key file first, server accepts the new key {} ms later",
            opts.rotate_ms, opts.propagate_ms
        ),
    };
    println!(
        "API at {} ({scenario}); {} consumers for {} s",
        server.uri(),
        opts.consumers,
        opts.seconds
    );

    let deadline = started + Duration::from_secs(opts.seconds);
    let rotator = {
        let api = api.clone();
        let key_file = key_file.clone();
        tokio::spawn(async move {
            let mut server_rotations = 0u64;
            loop {
                // 0.4–0.8 s with the defaults: rotations do not line up with anything.
                let every = opts.rotate_ms * 2 / 3 + fastrand::u64(..=opts.rotate_ms * 2 / 3);
                let busy = every + opts.lag_ms.max(opts.propagate_ms);
                if Instant::now() + Duration::from_millis(busy) >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(every)).await;
                let key = new_key();
                server_rotations += 1;
                let in_place = server_rotations % 2 == 0;
                match opts.mode {
                    Mode::Revoke => {
                        *api.current.lock().unwrap() = key.clone(); // the old key stops working now
                        tokio::time::sleep(Duration::from_millis(opts.lag_ms)).await;
                        write_key(&key_file, &key, in_place).expect("write key file");
                    }
                    Mode::Propagate => {
                        write_key(&key_file, &key, in_place).expect("write key file");
                        tokio::time::sleep(Duration::from_millis(opts.propagate_ms)).await;
                        *api.current.lock().unwrap() = key.clone(); // propagated; old one revoked
                    }
                }
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
    println!("server rotations:             {server_rotations}");
    println!("client rotations:             {}", stats.rotations);
    let per_rotation = stats.auth_failures as f64 / server_rotations.max(1) as f64;
    println!(
        "rejections per rotation:      {per_rotation:.1} ({:.2} per consumer in flight)",
        per_rotation / opts.consumers as f64
    );
    println!(
        "retries {} · refreshes {} · shared waits {} · fallbacks {} · probes {} · source errors {}",
        stats.retries,
        stats.refreshes,
        stats.rotation_waits,
        stats.fallbacks,
        stats.probes,
        stats.source_errors
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
