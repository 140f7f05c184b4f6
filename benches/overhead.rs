//! What keyswap costs on the request path, measured against bare reqwest in the same run.
//!
//! ```sh
//! cargo bench --bench overhead                 # ~10 s
//! KEYSWAP_BENCH_SECONDS=5 cargo bench --bench overhead
//! ```
//!
//! A minimal keep-alive HTTP/1.1 server on 127.0.0.1 answers every request with a fixed 200,
//! so the client side dominates. Each row sends requests for a fixed time with bare reqwest
//! (the header set by hand) and with a `keyswap::Client` (file source, header auth), in
//! alternating rounds, and prints requests/s and the keyswap/reqwest ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/stage.rs"]
mod stage;

async fn run<F, Fut>(concurrency: usize, for_how_long: Duration, send: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + for_how_long;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let send = send.clone();
            let done = done.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    send().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn keyswap_round(client: &keyswap::Client, concurrency: usize, round: Duration) -> f64 {
    let client = client.clone();
    run(concurrency, round, move || {
        let req = client.get("/v1/ticker");
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success());
            resp.bytes().await.unwrap();
        }
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: f64 = std::env::var("KEYSWAP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let stage = stage::Stage::start().await;
    let (url, bare, keyswap) = (&stage.url, &stage.bare, &stage.keyswap);

    println!("keyswap request-path overhead vs bare reqwest, 127.0.0.1, {seconds} s per row");
    println!(
        "{:<14} {:>14} {:>14} {:>8}",
        "concurrency", "reqwest req/s", "keyswap req/s", "ratio"
    );
    // Each row: alternating rounds per client, so drift in machine load hits both.
    let round = Duration::from_secs_f64(seconds / 4.0);
    let rows: Vec<usize> = std::env::var("KEYSWAP_BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64]);
    for concurrency in rows {
        let (mut r, mut k) = (0.0, 0.0);
        for round_no in 0..2 {
            if round_no == 1 {
                k += keyswap_round(keyswap, concurrency, round).await;
            }
            let (client, url) = (bare.clone(), url.clone());
            r += run(concurrency, round, move || {
                let req = client.get(url.clone()).header("x-api-key", stage::KEY);
                async move {
                    let resp = req.send().await.unwrap();
                    assert!(resp.status().is_success());
                    resp.bytes().await.unwrap();
                }
            })
            .await;
            if round_no == 0 {
                k += keyswap_round(keyswap, concurrency, round).await;
            }
        }
        println!(
            "{concurrency:<14} {:>14.0} {:>14.0} {:>8.3}",
            r / 2.0,
            k / 2.0,
            k / r
        );
    }
    let stats = keyswap.stats();
    assert_eq!(stats.auth_failures, 0);
}
