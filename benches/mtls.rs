//! The request path of a client certificate (mTLS) at parity with reqwest: the client's CPU
//! time per request with keyswap's rotating identity against a `reqwest::Client` built with a
//! fixed `Identity`, same run, the HTTPS server in its own process.
//!
//! ```sh
//! export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
//! cargo bench --bench mtls                        # 11 rounds x 3 contenders, 8 tasks
//! cargo bench --bench mtls -- --rounds 15 --secs 1 --concurrency 1
//! ```
//!
//! The bench makes a CA, a server certificate and a client certificate (rcgen), starts itself
//! again as the server (`--serve DIR`: a rustls server over TCP on 127.0.0.1 that requires a
//! client certificate of the CA, HTTP/1.1 keep-alive, 2 worker threads), and sends
//! `GET /v1/ticker` from `concurrency` tasks in a closed loop (a multi-thread Tokio runtime, 2
//! workers) with each contender in turn, the order alternating every round:
//! `reqwest` (fixed `Identity`), `keyswap` (rotating identity) and `keyswap-fixed` (keyswap's
//! request path over the `reqwest` contender's client), see `support/mtls_stage.rs`.
//! `mtls_cost` counts the same in instructions (deterministic, under callgrind).
//!
//! Per round: requests, and the process's CPU time (sum over its threads of the first field of
//! `/proc/self/task/*/schedstat`, ns) as a delta. At the end: the medians of CPU per request
//! and the median of the per-round ratios keyswap / reqwest (target ≤ 1.02).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/mtls_stage.rs"]
mod mtls_stage;

use mtls_stage::{Clients, Contender, Server, arg, median};

fn process_cpu_ns() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let Ok(entry) = entry else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

async fn round(
    clients: &Arc<Clients>,
    who: Contender,
    concurrency: usize,
    secs: f64,
) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let cpu0 = process_cpu_ns();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (clients, stop, count) = (clients.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    clients.call(who).await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    (count.load(Ordering::Relaxed), process_cpu_ns() - cpu0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    mtls_stage::serve_if_asked(&args);
    let rounds: usize = arg(&args, "--rounds", 11);
    let secs: f64 = arg(&args, "--secs", 0.6);
    let concurrency: usize = arg(&args, "--concurrency", 8);
    let server = Server::start();

    let rt = mtls_stage::two_workers();
    rt.block_on(async {
        let clients = Arc::new(Clients::new(&server).await);
        let all = Contender::ALL;
        // Warm up: connections open, TLS sessions established.
        for who in all {
            round(&clients, who, concurrency, 0.3).await;
        }
        let (mut cpu_r, mut cpu_k, mut cpu_f) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ratios, mut ratios_f, mut ratios_kf) = (Vec::new(), Vec::new(), Vec::new());
        let started = Instant::now();
        for r in 0..rounds {
            let mut order = all;
            order.rotate_left(r % 3);
            let mut per = [0.0; 3];
            for who in order {
                let (n, cpu) = round(&clients, who, concurrency, secs).await;
                let per_req = cpu as f64 / n as f64;
                println!(
                    "{{\"round\":{r},\"contender\":\"{}\",\"requests\":{n},\"cpu_ns_per_req\":{per_req:.0}}}",
                    who.name()
                );
                per[who as usize] = per_req;
            }
            cpu_r.push(per[0]);
            cpu_k.push(per[1]);
            cpu_f.push(per[2]);
            ratios.push(per[1] / per[0]);
            ratios_f.push(per[2] / per[0]);
            ratios_kf.push(per[1] / per[2]);
        }
        let stats = clients.keyswap.tls_stats().unwrap();
        println!(
            "\nmTLS, c={concurrency}, {rounds} rounds of {secs} s ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        println!("contender   CPU µs/request (median)");
        println!("reqwest     {:.2}", median(cpu_r.clone()) / 1000.0);
        println!("keyswap     {:.2}", median(cpu_k.clone()) / 1000.0);
        println!("keyswap-fixed {:.2}", median(cpu_f) / 1000.0);
        println!(
            "keyswap-fixed / reqwest: {:.3} (median of per-round ratios: keyswap's request path alone)",
            median(ratios_f)
        );
        println!(
            "keyswap / keyswap-fixed: {:.3} (median of per-round ratios: the rotating identity alone)",
            median(ratios_kf)
        );
        println!(
            "keyswap / reqwest: {:.3} (median of per-round ratios), {:.3} (ratio of medians); keyswap handshakes: {}",
            median(ratios),
            median(cpu_k) / median(cpu_r),
            stats.handshakes
        );
    });
    drop(server);
}
