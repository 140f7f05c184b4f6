//! The request path at parity with bare reqwest: the client's CPU time per request, throughput
//! and p99 latency, keyswap against bare reqwest, with the HTTP server in its own process.
//!
//! ```sh
//! export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
//! cargo build --release --example bench_server
//! cargo bench --bench request_path                       # 11 rounds x 3 contenders x c=1,8,64
//! cargo bench --bench request_path -- --rounds 15 --secs 0.8 --concurrency 8,64
//! cargo bench --bench request_path -- --only keyswap --concurrency 64 --rounds 5   # profiling
//! ```
//!
//! Options: `--server URL` (use a running `bench_server` instead of starting one; else the bench
//! starts `$CARGO_TARGET_DIR/release/examples/bench_server` as a child process), `--rounds N`
//! (default 11), `--secs S` per round and contender (default 0.6), `--concurrency 1,8,64`,
//! `--only reqwest|keyswap|keyswap-abs` (one contender, for a profiler), `--contenders a,b`, `--sizes` (print the
//! sizes of the request futures and exit).
//!
//! Setup: a multi-thread Tokio runtime with 2 workers. Contenders, each sending
//! `GET /v1/ticker?symbol=BTCUSDT` from `concurrency` tasks in a closed loop:
//! - `reqwest`: a bare `reqwest::Client` (redirects off, as keyswap's default client), the URL
//!   absolute, `x-api-key` set by hand;
//! - `keyswap`: a `keyswap::Client` (`Source::file`, `Auth::header("x-api-key")`, `base_url`),
//!   the URL relative (joined onto the base: part of keyswap's API);
//! - `keyswap-abs`: the same client, the URL absolute.
//!
//! Rounds alternate (the order rotates every round, so drift in machine load hits all). Per
//! round: requests, the process's CPU time (sum over all its threads of the first field of
//! `/proc/self/task/*/schedstat`, ns) as a delta, and every request's latency. Each round prints
//! a JSON line; at the end a table of medians over rounds, with ratios to reqwest: of the
//! medians, and the median of the per-round ratios (paired rounds).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "bench-key-0123456789";
const PATH: &str = "/v1/ticker?symbol=BTCUSDT";

/// CPU time of every thread of this process, ns.
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Contender {
    Reqwest,
    Keyswap,
    KeyswapAbs,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Reqwest => "reqwest",
            Contender::Keyswap => "keyswap",
            Contender::KeyswapAbs => "keyswap-abs",
        }
    }

    fn parse(s: &str) -> Contender {
        match s {
            "reqwest" => Contender::Reqwest,
            "keyswap" => Contender::Keyswap,
            "keyswap-abs" => Contender::KeyswapAbs,
            other => panic!("unknown contender {other:?}"),
        }
    }
}

#[derive(Clone)]
struct Clients {
    url: Arc<str>,
    bare: reqwest::Client,
    keyswap: keyswap::Client,
}

impl Clients {
    async fn send(&self, who: Contender) {
        let resp = match who {
            Contender::Reqwest => self
                .bare
                .get(&*self.url)
                .header("x-api-key", KEY)
                .send()
                .await
                .expect("reqwest send"),
            Contender::Keyswap => self.keyswap.get(PATH).send().await.expect("keyswap send"),
            Contender::KeyswapAbs => self
                .keyswap
                .get(&*self.url)
                .send()
                .await
                .expect("keyswap send"),
        };
        assert!(resp.status().is_success());
        resp.bytes().await.expect("body");
    }
}

struct Round {
    requests: u64,
    cpu_ns: u64,
    wall: Duration,
    p50_us: f64,
    p99_us: f64,
}

impl Round {
    fn cpu_per_req(&self) -> f64 {
        self.cpu_ns as f64 / self.requests as f64
    }
    fn rps(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
}

async fn round(clients: &Clients, who: Contender, concurrency: usize, secs: f64) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = process_cpu_ns();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (clients, stop) = (clients.clone(), stop.clone());
            tokio::spawn(async move {
                let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    clients.send(who).await;
                    lat.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lats = Vec::new();
    for t in tasks {
        lats.push(t.await.expect("worker"));
    }
    let wall = started.elapsed();
    let cpu_ns = process_cpu_ns() - cpu0;
    let mut all: Vec<u32> = lats.into_iter().flatten().collect();
    all.sort_unstable();
    let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1e3;
    Round {
        requests: all.len() as u64,
        cpu_ns,
        wall,
        p50_us: q(0.50),
        p99_us: q(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Options {
    server: Option<String>,
    rounds: usize,
    secs: f64,
    concurrency: Vec<usize>,
    contenders: Vec<Contender>,
    sizes: bool,
}

fn options() -> Options {
    let mut o = Options {
        server: None,
        rounds: 11,
        secs: 0.6,
        concurrency: vec![1, 8, 64],
        contenders: vec![
            Contender::Reqwest,
            Contender::Keyswap,
            Contender::KeyswapAbs,
        ],
        sizes: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => o.server = Some(value()),
            "--rounds" => o.rounds = value().parse().expect("--rounds N"),
            "--secs" => o.secs = value().parse().expect("--secs S"),
            "--concurrency" => {
                o.concurrency = value()
                    .split(',')
                    .map(|c| c.trim().parse().expect("--concurrency 1,8,64"))
                    .collect()
            }
            "--only" => o.contenders = vec![Contender::parse(&value())],
            "--contenders" => o.contenders = value().split(',').map(Contender::parse).collect(),
            "--sizes" => o.sizes = true,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => panic!("unknown argument {other:?}; see the doc comment of request_path.rs"),
        }
    }
    o
}

/// Starts `bench_server` as a child process; returns it and its base URL.
fn start_server() -> (Child, String) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release/examples/bench_server");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release --example bench_server` first, or pass --server URL",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start bench_server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("bench_server address");
    (child, line.trim().to_owned())
}

fn main() {
    let o = options();
    let (mut child, base) = match &o.server {
        Some(url) => (None, url.trim_end_matches('/').to_owned()),
        None => {
            let (child, url) = start_server();
            (Some(child), url)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&o, &base));
    drop(runtime);
    if let Some(child) = child.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

async fn run(o: &Options, base: &str) {
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("api_key");
    std::fs::write(&key_file, KEY).unwrap();
    let clients = Clients {
        url: format!("{base}{PATH}").into(),
        bare: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        keyswap: keyswap::Client::builder()
            .source(
                keyswap::Source::file(&key_file)
                    .watch(false)
                    .poll_interval(None),
            )
            .auth(keyswap::Auth::header("x-api-key"))
            .base_url(base)
            .build()
            .await
            .unwrap(),
    };
    if o.sizes {
        let req = || clients.keyswap.get(PATH).build().unwrap();
        eprintln!(
            "future sizes, bytes: keyswap RequestBuilder::send {}, keyswap Client::execute {}, \
             reqwest RequestBuilder::send {}, reqwest Client::execute {}",
            std::mem::size_of_val(&clients.keyswap.get(PATH).send()),
            std::mem::size_of_val(&clients.keyswap.execute(req())),
            std::mem::size_of_val(&clients.bare.get(&*clients.url).send()),
            std::mem::size_of_val(&clients.bare.execute(req())),
        );
        eprintln!(
            "reqwest::Request {}, reqwest::Response {}, keyswap::Error {}",
            std::mem::size_of::<reqwest::Request>(),
            std::mem::size_of::<reqwest::Response>(),
            std::mem::size_of::<keyswap::Error>(),
        );
        return;
    }
    eprintln!(
        "request_path: server {base}, {} rounds x {} s, 2 Tokio workers, contenders {:?}",
        o.rounds,
        o.secs,
        o.contenders.iter().map(|c| c.name()).collect::<Vec<_>>()
    );
    let mut table = Vec::new();
    // Every request sent, warm-ups included (to normalise a profiler's sample counts).
    let mut total_requests = 0;
    for &c in &o.concurrency {
        // Warm-up: connections opened, allocator and caches settled.
        for &who in &o.contenders {
            total_requests += round(&clients, who, c, 0.3).await.requests;
        }
        let mut results: Vec<Vec<Round>> = o.contenders.iter().map(|_| Vec::new()).collect();
        for r in 0..o.rounds {
            let n = o.contenders.len();
            for i in 0..n {
                let idx = (i + r) % n;
                let who = o.contenders[idx];
                let got = round(&clients, who, c, o.secs).await;
                println!(
                    "{{\"concurrency\":{c},\"round\":{r},\"client\":\"{}\",\"requests\":{},\"cpu_ns\":{},\"wall_s\":{:.4},\"cpu_ns_per_req\":{:.0},\"rps\":{:.0},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
                    who.name(),
                    got.requests,
                    got.cpu_ns,
                    got.wall.as_secs_f64(),
                    got.cpu_per_req(),
                    got.rps(),
                    got.p50_us,
                    got.p99_us
                );
                total_requests += got.requests;
                results[idx].push(got);
            }
        }
        table.push((c, results));
    }
    assert_eq!(clients.keyswap.stats().auth_failures, 0);
    eprintln!("requests sent in all (warm-ups included): {total_requests}");

    println!();
    println!(
        "medians over {} rounds ({} s each); ratio = contender / reqwest (of medians | median of per-round ratios)",
        o.rounds, o.secs
    );
    println!(
        "{:>4} {:<12} {:>10} {:>9} {:>9} {:>9} {:>15} {:>15} {:>15}",
        "c",
        "client",
        "cpu ns/req",
        "req/s",
        "p50 us",
        "p99 us",
        "cpu ratio",
        "req/s ratio",
        "p99 ratio"
    );
    let base_idx = o.contenders.iter().position(|&c| c == Contender::Reqwest);
    for (c, results) in &table {
        for (idx, who) in o.contenders.iter().enumerate() {
            let rs = &results[idx];
            let med = |f: &dyn Fn(&Round) -> f64| median(rs.iter().map(f).collect());
            let cpu = med(&|r| r.cpu_per_req());
            let rps = med(&|r| r.rps());
            let p50 = med(&|r| r.p50_us);
            let p99 = med(&|r| r.p99_us);
            let ratios = |f: &dyn Fn(&Round) -> f64| -> String {
                let Some(b) = base_idx else {
                    return "-".into();
                };
                let base = &results[b];
                let of_medians = med(f) / median(base.iter().map(f).collect());
                let paired = median(rs.iter().zip(base).map(|(x, y)| f(x) / f(y)).collect());
                format!("{of_medians:.3} | {paired:.3}")
            };
            println!(
                "{:>4} {:<12} {:>10.0} {:>9.0} {:>9.1} {:>9.1} {:>15} {:>15} {:>15}",
                c,
                who.name(),
                cpu,
                rps,
                p50,
                p99,
                ratios(&|r| r.cpu_per_req()),
                ratios(&|r| r.rps()),
                ratios(&|r| r.p99_us),
            );
        }
    }
}
