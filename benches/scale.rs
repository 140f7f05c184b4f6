//! Many credentials in one process: the multi-tenant case (one key file per client, all in one
//! directory) and the bot-farm case (many clients on one shared file).
//!
//! ```sh
//! cargo bench --bench scale                                   # 10,000 tenants, 1,000 farm clients
//! cargo bench --bench scale -- --tenants 1000 --farm 100      # smaller
//! ```
//!
//! Prints one JSON line per measurement, then a table. Memory is the process RSS delta divided
//! by the number of clients, measured after a first client has built the shared HTTP client.
//! During the rotation of every tenant file at once, the server hard-revokes the old keys
//! (they are rewritten right after) and 64 consumers keep calling through random clients:
//! every failure they see is counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyswap::{Auth, Client, Source, file_reads};

#[path = "support/api.rs"]
mod api;

use api::{Api, rss_kib};

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn threads() -> u64 {
    status_field("Threads:")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    fn add(&mut self, case: &str, what: &str, value: f64, unit: &str, target: &str) {
        println!(
            "{}",
            serde_json::json!({"case": case, "measure": what, "value": value, "unit": unit, "target": target})
        );
        self.rows.push((
            format!("{case}: {what}"),
            format!("{value:.2} {unit}"),
            target.to_owned(),
        ));
    }
}

async fn build(path: &Path, base: &str) -> Client {
    Client::builder()
        .source(Source::file(path))
        .auth(Auth::header("x-api-key"))
        .base_url(base)
        .build()
        .await
        .unwrap()
}

async fn wait_all(clients: &[Client], versions: &[String], limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if clients
            .iter()
            .zip(versions)
            .all(|(c, v)| c.credential_version() == *v)
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::main]
async fn main() {
    let tenants = arg("--tenants", 10_000);
    let farm_size = arg("--farm", 1_000);
    let mut report = Report { rows: Vec::new() };
    let api = Api::default();
    let base = api.serve().await;
    let dir = tempfile::tempdir().unwrap();

    // The shared HTTP client and the runtime's first threads, before measuring.
    let warm = dir.path().join("warm");
    write_atomic(&warm, "warm-g0");
    api.accept_also("warm-g0");
    let warm_client = build(&warm, &base).await;
    warm_client.get("/").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ---- bot farm: many clients on one shared file ---------------------------------------
    let shared = dir.path().join("farm-key");
    write_atomic(&shared, "farm-g0");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (rss0, threads0) = (rss_kib(), threads());
    let started = Instant::now();
    let mut farm = Vec::with_capacity(farm_size);
    for _ in 0..farm_size {
        farm.push(build(&shared, &base).await);
    }
    let build_us = started.elapsed().as_secs_f64() * 1e6 / farm_size as f64;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let case = format!("{farm_size} clients on one file");
    report.add(&case, "build time per client", build_us, "µs", "≤ 100 µs");
    report.add(
        &case,
        "memory per client",
        rss_kib().saturating_sub(rss0) as f64 / farm_size as f64,
        "KiB",
        "≤ 8 KiB",
    );
    let reads0 = file_reads();
    write_atomic(&shared, "farm-g2");
    let expected = vec![keyswap::Credential::new("farm-g2").version().to_owned(); farm_size];
    let took = wait_all(&farm, &expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    report.add(
        &case,
        "rotation: all clients on the new key",
        took.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3),
        "ms",
        "",
    );
    report.add(
        &case,
        "rotation: reads",
        (file_reads() - reads0) as f64,
        "",
        "1",
    );
    report.add(
        &case,
        "threads added",
        threads().saturating_sub(threads0) as f64,
        "",
        "≤ 8",
    );
    drop(farm);

    // ---- multi-tenant: one file per client, one directory --------------------------------
    let paths: Vec<PathBuf> = (0..tenants)
        .map(|n| dir.path().join(format!("tenant-{n}")))
        .collect();
    for (n, p) in paths.iter().enumerate() {
        write_atomic(p, &format!("t{n}-g0"));
        api.accept_also(&format!("t{n}-g0"));
    }
    // Files untouched for a moment: builds see quiet files, as a service starting up does.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (rss0, threads0) = (rss_kib(), threads());
    let started = Instant::now();
    let mut clients = Vec::with_capacity(tenants);
    for p in &paths {
        clients.push(build(p, &base).await);
    }
    let build_us = started.elapsed().as_secs_f64() * 1e6 / tenants as f64;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_client_kib = (rss_kib().saturating_sub(rss0)) as f64 / tenants as f64;
    let case = format!("{tenants} tenants");
    report.add(&case, "build time per client", build_us, "µs", "≤ 100 µs");
    report.add(&case, "memory per client", per_client_kib, "KiB", "≤ 8 KiB");
    report.add(
        &case,
        "threads added",
        threads().saturating_sub(threads0) as f64,
        "",
        "≤ 8",
    );

    // One tenant's file changes: one read.
    let reads0 = file_reads();
    write_atomic(&paths[tenants / 2], &format!("t{}-g0b", tenants / 2));
    api.accept_also(&format!("t{}-g0b", tenants / 2));
    let one = [clients[tenants / 2].clone()];
    let v = [Client::builder()
        .source(Source::fixed(format!("t{}-g0b", tenants / 2)))
        .build()
        .await
        .unwrap()
        .credential_version()];
    let _ = wait_all(&one, &v, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    report.add(
        &case,
        "reads for a change to one file",
        (file_reads() - reads0) as f64,
        "",
        "1",
    );

    // Every file rotates at once; the server revokes the old keys as the files are written.
    let failures = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumers: Vec<_> = (0..64)
        .map(|_| {
            let (clients, failures, requests, stop) = (
                clients.clone(),
                failures.clone(),
                requests.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let c = &clients[fastrand::usize(..clients.len())];
                    requests.fetch_add(1, Ordering::Relaxed);
                    match c.get("/v1/x").send().await {
                        Ok(r) if r.status() == 200 => {}
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib();
    let mut max_threads = threads();
    let reads0 = file_reads();
    let expected: Vec<String> = (0..tenants)
        .map(|n| {
            keyswap::Credential::new(format!("t{n}-g1"))
                .version()
                .to_owned()
        })
        .collect();
    let rotated = Instant::now();
    // Hard revocation: only the new keys are accepted from now on.
    let new_keys: Vec<String> = (0..tenants).map(|n| format!("t{n}-g1")).collect();
    api.accept_only(&new_keys.iter().map(String::as_str).collect::<Vec<_>>());
    for (n, p) in paths.iter().enumerate() {
        write_atomic(p, &format!("t{n}-g1"));
    }
    let sampler = tokio::spawn(async move {
        let mut max = 0;
        for _ in 0..400 {
            let now = threads();
            if now > max {
                max = now;
                if std::env::var_os("SCALE_THREAD_NAMES").is_some() {
                    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
                        .unwrap()
                        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                        .map(|n| n.trim().to_owned())
                        .collect();
                    names.sort();
                    eprintln!("threads at peak: {names:?}");
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        max
    });
    let took = wait_all(&clients, &expected, Duration::from_secs(20)).await;
    // From before the first file was written to the moment the last client had its new key.
    let all_ms = took.map_or(f64::INFINITY, |_| rotated.elapsed().as_secs_f64() * 1e3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in consumers {
        c.await.unwrap();
    }
    max_threads = max_threads.max(sampler.await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    report.add(
        &case,
        "rotation of every file: all clients on the new key",
        all_ms,
        "ms",
        "≤ 2000 ms",
    );
    report.add(
        &case,
        "rotation of every file: consumer failures",
        failures.load(Ordering::Relaxed) as f64,
        &format!("of {}", requests.load(Ordering::Relaxed)),
        "0",
    );
    report.add(
        &case,
        "rotation of every file: reads per file",
        (file_reads() - reads0) as f64 / tenants as f64,
        "",
        "1",
    );
    report.add(
        &case,
        "rotation of every file: threads added (peak)",
        max_threads.saturating_sub(threads0) as f64,
        "",
        "≤ 8",
    );
    report.add(
        &case,
        "rotation of every file: RSS change after",
        (rss_kib() as f64 - rss_before as f64) / rss_before as f64 * 100.0,
        "%",
        "flat",
    );
    drop(clients);

    drop(warm_client);

    println!();
    println!("{:<62} {:>18}  target", "measure", "value");
    for (what, value, target) in &report.rows {
        println!("{what:<62} {value:>18}  {target}");
    }
}
