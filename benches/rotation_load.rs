//! Rotation under load: a storm of requests meeting a hard revocation, sustained load with a
//! rotation every 100 ms, and how fast a new key file reaches requests.
//!
//! ```sh
//! cargo bench --bench rotation_load                   # ~45 s
//! cargo bench --bench rotation_load -- --seconds 30   # sustained phase: 30 s of rotations
//! ```
//!
//! Prints one JSON line per measurement, then a table.
//! - **storm**: 256 requests in flight when the server hard-revokes the key; the file follows
//!   50 ms later. Consumer failures, source loads, and the slowest request compared with the
//!   slowest before the revocation.
//! - **sustained**: 64 consumers at full speed; alternating 5 s rounds without and with a
//!   rotation every 100 ms (the server accepts the new key at once and revokes the old one
//!   50 ms after the file changed). Throughput ratio, failures, RSS at start and end.
//! - **propagation**: one consumer sending continuously; from the moment a new key file is in
//!   place to the first request carrying it, for a rename over the file, the Kubernetes
//!   `..data` swap and an in-place rewrite (`--trials`, default 200 each: with 50 the p99 is
//!   the single worst trial).

#[path = "support/api.rs"]
mod api;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use api::{Api, rss_kib};
use keyswap::{Auth, Client, Source, file_reads};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

/// Writes `content` next to `path` and renames it over `path`; returns the instant just before
/// the rename (the moment the new key is in place is inside that call: a watcher woken by it
/// may preempt this thread before the call returns).
fn rename_into(path: &Path, content: &str) -> Instant {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    let at = Instant::now();
    std::fs::rename(&tmp, path).unwrap();
    at
}

/// A Kubernetes secret volume updated as the kubelet does: a new timestamped directory, a
/// `..data_tmp` symlink renamed over `..data`, the old directory removed.
struct Volume {
    dir: PathBuf,
    generation: u32,
}

impl Volume {
    fn create(dir: &Path, key: &str) -> Self {
        let mut v = Volume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.update(key);
        std::os::unix::fs::symlink("..data/api_key", dir.join("api_key")).unwrap();
        v
    }

    /// Returns the instant just before the `..data` swap (see [`rename_into`]).
    fn update(&mut self, key: &str) -> Instant {
        self.generation += 1;
        let ts = format!("..2026_11_23_12_00_{:06}", self.generation);
        std::fs::create_dir(self.dir.join(&ts)).unwrap();
        std::fs::write(self.dir.join(&ts).join("api_key"), key).unwrap();
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        std::os::unix::fs::symlink(&ts, self.dir.join("..data_tmp")).unwrap();
        let at = Instant::now();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
        at
    }
}

struct Report(Vec<(String, String, String)>);

impl Report {
    fn add(&mut self, what: &str, value: f64, unit: &str, target: &str) {
        println!(
            "{}",
            serde_json::json!({"measure": what, "value": value, "unit": unit, "target": target})
        );
        self.0.push((
            what.to_owned(),
            format!("{value:.2} {unit}"),
            target.to_owned(),
        ));
    }
}

async fn client(path: &Path, base: &str) -> Client {
    Client::builder()
        .source(Source::file(path))
        .auth(Auth::header("x-api-key"))
        .base_url(base)
        .build()
        .await
        .unwrap()
}

struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    /// Slowest request, in µs, since the last reset.
    slowest: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn load(client: &Client, consumers: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed, slowest) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks = (0..consumers)
        .map(|_| {
            let (client, stop, done, failed, slowest) = (
                client.clone(),
                stop.clone(),
                done.clone(),
                failed.clone(),
                slowest.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    match client.get("/v1/ticker").send().await {
                        Ok(r) if r.status() == 200 => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    slowest.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    Load {
        stop,
        done,
        failed,
        slowest,
        tasks,
    }
}

impl Load {
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let sustained_secs = arg("--seconds", 30);
    let trials = arg("--trials", 200);
    let mut report = Report(Vec::new());
    let api = Api::default();
    let base = api.serve().await;
    let dir = tempfile::tempdir().unwrap();

    // ---- storm ---------------------------------------------------------------------------
    let path = dir.path().join("storm_key");
    rename_into(&path, "storm-0");
    api.accept_only(&["storm-0"]);
    let storm = client(&path, &base).await;
    let running = load(&storm, 256);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let slowest_before = running.slowest.swap(0, Ordering::Relaxed) as f64 / 1e3;
    let (stats0, reads0) = (storm.stats(), file_reads());
    api.accept_only(&["storm-1"]); // hard revocation
    tokio::time::sleep(Duration::from_millis(50)).await;
    rename_into(&path, "storm-1");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let slowest_after = running.slowest.load(Ordering::Relaxed) as f64 / 1e3;
    let (_, failed) = running.finish().await;
    let stats = storm.stats();
    report.add("storm: consumer failures", failed as f64, "", "0");
    report.add(
        "storm: source loads by the refresh path",
        (stats.refreshes - stats0.refreshes) as f64,
        "",
        "≤ 2",
    );
    report.add("storm: file reads", (file_reads() - reads0) as f64, "", "");
    report.add(
        "storm: slowest request after the revocation",
        slowest_after,
        "ms",
        &format!(
            "≤ {:.0} ms (slowest before {slowest_before:.1} + 50 + 100)",
            slowest_before + 150.0
        ),
    );
    report.add(
        "storm: rejected attempts",
        (stats.auth_failures - stats0.auth_failures) as f64,
        "",
        "",
    );
    drop(storm);

    // ---- sustained -----------------------------------------------------------------------
    let path = dir.path().join("sustained_key");
    rename_into(&path, "s-0");
    api.accept_only(&["s-0"]);
    let sustained = client(&path, &base).await;
    let warm = load(&sustained, 64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    warm.finish().await;
    let rss_start = rss_kib();
    let rounds = sustained_secs.div_ceil(5).max(1);
    let (mut base_rate, mut rot_rate, mut failures, mut generation) = (0.0, 0.0, 0, 0u64);
    for _ in 0..rounds {
        for rotating in [false, true] {
            let running = load(&sustained, 64);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if rotating {
                    generation += 1;
                    let (old, new) = (format!("s-{}", generation - 1), format!("s-{generation}"));
                    api.accept_also(&new);
                    rename_into(&path, &new);
                    let api = api.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        api.revoke(&old);
                    });
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            let (done, failed) = running.finish().await;
            failures += failed;
            if rotating {
                rot_rate += done as f64 / elapsed;
            } else {
                base_rate += done as f64 / elapsed;
            }
        }
    }
    let rss_end = rss_kib();
    report.add(
        "sustained: throughput with a rotation every 100 ms / without",
        rot_rate / base_rate,
        "×",
        "≥ 0.95",
    );
    report.add("sustained: consumer failures", failures as f64, "", "0");
    report.add(
        "sustained: rotations",
        sustained.stats().rotations as f64,
        &format!("of {generation}"),
        "",
    );
    report.add(
        "sustained: rejected attempts",
        sustained.stats().auth_failures as f64,
        "",
        "",
    );
    report.add(
        "sustained: RSS end vs start",
        (rss_end as f64 - rss_start as f64) / rss_start as f64 * 100.0,
        "%",
        "within 5 %",
    );
    drop(sustained);

    // ---- propagation ---------------------------------------------------------------------
    for pattern in ["rename", "kubernetes ..data swap", "in-place rewrite"] {
        let vol_dir = tempfile::tempdir().unwrap();
        let mut volume = None;
        let path = if pattern.starts_with("kubernetes") {
            volume = Some(Volume::create(vol_dir.path(), "p-0"));
            vol_dir.path().join("api_key")
        } else {
            let p = vol_dir.path().join("api_key");
            rename_into(&p, "p-0");
            p
        };
        api.accept_only(&["p-0"]);
        let c = client(&path, &base).await;
        let running = load(&c, 1);
        let mut latencies = Vec::new();
        for n in 1..=trials {
            let key = format!("p-{}-{n}", pattern.len());
            api.accept_also(&key);
            tokio::time::sleep(Duration::from_millis(60)).await;
            let written = match &mut volume {
                Some(v) => v.update(&key),
                None if pattern == "rename" => rename_into(&path, &key),
                None => {
                    let at = Instant::now();
                    std::fs::write(&path, &key).unwrap();
                    at
                }
            };
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                if let Some(seen) = api.first_seen(&key) {
                    latencies.push(seen.saturating_duration_since(written).as_secs_f64() * 1e3);
                    break;
                }
                if Instant::now() > deadline {
                    latencies.push(f64::INFINITY);
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let (_, failed) = running.finish().await;
        latencies.sort_by(|a, b| a.total_cmp(b));
        let target = if pattern == "in-place rewrite" {
            "≤ 50 ms"
        } else {
            "≤ 10 ms"
        };
        report.add(
            &format!("propagation, {pattern}: p50"),
            percentile(&latencies, 0.5),
            "ms",
            "",
        );
        report.add(
            &format!("propagation, {pattern}: p99"),
            percentile(&latencies, 0.99),
            "ms",
            target,
        );
        report.add(
            &format!("propagation, {pattern}: consumer failures"),
            failed as f64,
            "",
            "0",
        );
    }

    println!();
    println!("{:<62} {:>14}  target", "measure", "value");
    for (what, value, target) in &report.0 {
        println!("{what:<62} {value:>14}  {target}");
    }
}
