//! Fleet simulation: 1,000 clients in one process read the same secret from one local
//! endpoint (a Vault KV v2 stand-in on 127.0.0.1) while an API they call accepts only the
//! current key. The secret is rotated once, with hard revocation of the old key. The example
//! counts the requests that reach the secrets endpoint, and when, in two layouts:
//!
//! - `shared`: the 1,000 clients share one `Source` (one process running many bots);
//! - `separate`: each client has its own `Source` (stands for 1,000 processes or pods).
//!
//! `cargo run --release --example fleet` (the numbers are in docs/fleet.md). Options:
//! `--clients N` (default 1000), `--poll-ms P` (default 2000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyswap::{Auth, Client, HeaderValueFrom, Source};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

struct Endpoint {
    key: Mutex<String>,
    hits: Mutex<Vec<Instant>>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let clients = arg("--clients", 1000) as usize;
    let poll = Duration::from_millis(arg("--poll-ms", 2000));
    println!("fleet: {clients} clients, poll interval {poll:?} (±20 %), one rotation\n");
    for layout in ["shared", "separate"] {
        run(layout, clients, poll).await?;
    }
    Ok(())
}

async fn run(layout: &str, n: usize, poll: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = Arc::new(Endpoint {
        key: Mutex::new("key-1".into()),
        hits: Mutex::new(Vec::new()),
    });
    let vault = MockServer::start().await;
    let e = endpoint.clone();
    Mock::given(path("/v1/secret/data/bots"))
        .respond_with(move |_: &Request| {
            e.hits.lock().unwrap().push(Instant::now());
            let key = e.key.lock().unwrap().clone();
            ResponseTemplate::new(200).set_body_json(
                json!({"data": {"data": {"api_key": key}, "metadata": {"version": 1}}}),
            )
        })
        .mount(&vault)
        .await;
    let api = MockServer::start().await;
    let e = endpoint.clone();
    let rejected = Arc::new(AtomicUsize::new(0));
    let r = rejected.clone();
    Mock::given(path("/v1/orders"))
        .respond_with(move |req: &Request| {
            let sent = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if sent == Some(e.key.lock().unwrap().as_str()) {
                ResponseTemplate::new(200)
            } else {
                r.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(401)
            }
        })
        .mount(&api)
        .await;

    // One connection pool for everything, as a real process would have.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let make_source = || {
        Source::vault_kv2(
            &vault.uri(),
            "secret",
            "bots",
            "api_key",
            HeaderValueFrom::literal("hvs.fleet"),
        )
        .poll_interval(Some(poll))
        .http_client(http.clone())
    };
    let shared = Source::custom(make_source());
    let mut fleet = Vec::with_capacity(n);
    for _ in 0..n {
        let source = if layout == "shared" {
            shared.clone()
        } else {
            Source::custom(make_source())
        };
        let client = Client::builder()
            .source(source)
            .http_client(http.clone())
            .auth(Auth::header("x-api-key"))
            .base_url(api.uri())
            .build()
            .await?;
        fleet.push(client);
    }
    let build_requests = endpoint.hits.lock().unwrap().len();

    // Steady state: one poll interval and a half without any change.
    let quiet_from = Instant::now();
    tokio::time::sleep(poll.mul_f64(1.5)).await;
    let steady = count_since(&endpoint, quiet_from);

    // Rotation with hard revocation; every client then calls the API once within 500 ms.
    let rotated_at = Instant::now();
    *endpoint.key.lock().unwrap() = "key-2".into();
    let calls: Vec<_> = fleet
        .iter()
        .map(|client| {
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..500))).await;
                client
                    .get("/v1/orders")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut failed = 0;
    for call in calls {
        if call.await?? != 200 {
            failed += 1;
        }
    }
    let calls_took = rotated_at.elapsed();
    let on_rotation = count_since(&endpoint, rotated_at);
    let hits: Vec<Duration> = endpoint
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= rotated_at)
        .map(|t| *t - rotated_at)
        .collect();
    let refreshes: u64 = fleet.iter().map(|c| c.stats().refreshes).sum();

    println!(
        "== {layout}: {n} clients, {} ==",
        if layout == "shared" {
            "one Source"
        } else {
            "one Source each"
        }
    );
    println!("  building the fleet:                      {build_requests} endpoint requests");
    println!(
        "  steady state, {:.1} s without change:     {steady} endpoint requests ({:.1}/s)",
        poll.as_secs_f64() * 1.5,
        steady as f64 / (poll.as_secs_f64() * 1.5)
    );
    println!(
        "  rotation, {n} API calls in 0–500 ms:    {on_rotation} endpoint requests, {} 401s absorbed, \
         {failed} calls failed, {refreshes} client refreshes (calls done after {calls_took:.2?})",
        rejected.load(Ordering::SeqCst)
    );
    println!("  endpoint requests per 250 ms after the rotation:");
    let last = hits.iter().max().copied().unwrap_or_default();
    let buckets = (last.as_millis() / 250 + 1) as usize;
    let mut histogram = vec![0usize; buckets.min(24)];
    for hit in &hits {
        let b = (hit.as_millis() / 250) as usize;
        if b < histogram.len() {
            histogram[b] += 1;
        }
    }
    for (i, count) in histogram.iter().enumerate() {
        if *count > 0 {
            println!(
                "    {:>4}–{:<4} ms {:>5} {}",
                i * 250,
                i * 250 + 250,
                count,
                "#".repeat((*count / 2).min(60))
            );
        }
    }
    println!();
    Ok(())
}

fn count_since(endpoint: &Endpoint, since: Instant) -> usize {
    endpoint
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= since)
        .count()
}
