//! A soak test: two credential streams rotating every `--rotate-ms` (alternating), abused
//! sources, concurrent consumers, and the process's memory watched over the run.
//!
//! - The **file stream**: a key file rewritten by rename and in place, sometimes first with
//!   garbage (empty, half a JSON document, binary, a 1 MiB blob, an absurd expiry) and the
//!   good key a few ms later. Every other rotation the API revokes the old key at once and
//!   the file follows 0–10 ms later (well inside the client's `await_rotation`); the others
//!   overlap (the API accepts the new key first, revokes the old one 30 ms after the file
//!   holds the new one).
//! - The **endpoint stream**: a second local server answering `{"key": ..}`, polled every
//!   20 ms, with outages injected (500, 429 + `Retry-After: 1`, invalid JSON, slow answers).
//!   The API keeps accepting a replaced key for 2 rotations and until the endpoint has served
//!   a newer one for 20 ms; every 4th rotation, when the endpoint is healthy and has not asked
//!   for a `Retry-After` pause lately, it hard-revokes instead (a refresh on 401 recovers).
//!
//! A correct client gives its consumers 0 failures. The summary also shows the
//! authentication failures the API counted per rotation, source errors, background failures
//! and the resident memory after warm-up and at the end.
//!
//! ```sh
//! cargo run --release --example soak                         # 60 s, 16 consumers
//! cargo run --release --example soak -- --seconds 600 --rotate-ms 20 --consumers 64
//! ```
//!
//! Exits 1 if any consumer saw a failure.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyswap::{Auth, Client, Source, Stats};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const FILE_HEADER: &str = "x-api-key";
const ENDPOINT_HEADER: &str = "x-endpoint-key";

#[derive(Clone, Copy)]
struct Options {
    seconds: u64,
    rotate_ms: u64,
    consumers: usize,
    report_secs: u64,
}

fn options() -> Options {
    let mut opts = Options {
        seconds: 60,
        rotate_ms: 50,
        consumers: 16,
        report_secs: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a number after {}", pair[0]))
        };
        match pair[0].as_str() {
            "--seconds" => opts.seconds = value(),
            "--rotate-ms" => opts.rotate_ms = value().max(1),
            "--consumers" => opts.consumers = (value() as usize).max(2),
            "--report-secs" => opts.report_secs = value().max(1),
            other => panic!(
                "unknown flag {other}; flags: --seconds --rotate-ms --consumers --report-secs"
            ),
        }
    }
    opts
}

/// The keys the API accepts for one stream, with their generation.
#[derive(Default)]
struct Accepted {
    keys: Mutex<VecDeque<(u64, String)>>,
    served: AtomicU64,
    rejected: AtomicU64,
}

impl Accepted {
    fn contains(&self, key: &str) -> bool {
        self.keys.lock().unwrap().iter().any(|(_, k)| k == key)
    }
    fn add(&self, generation: u64, key: &str) {
        self.keys
            .lock()
            .unwrap()
            .push_back((generation, key.to_owned()));
    }
    fn only(&self, generation: u64, key: &str) {
        let mut keys = self.keys.lock().unwrap();
        keys.clear();
        keys.push_back((generation, key.to_owned()));
    }
    fn revoke_older_than(&self, generation: u64) {
        self.keys.lock().unwrap().retain(|(g, _)| *g >= generation);
    }
}

/// The API: 200 when the request carries a key its stream currently accepts, else 401.
#[derive(Clone, Default)]
struct Api {
    file: Arc<Accepted>,
    endpoint: Arc<Accepted>,
}

impl Handler for Api {
    fn respond(&self, headers: &[(String, String)]) -> Reply {
        let (stream, key) = match header(headers, FILE_HEADER) {
            Some(key) => (&self.file, key),
            None => match header(headers, ENDPOINT_HEADER) {
                Some(key) => (&self.endpoint, key),
                None => return Reply::new(401, ""),
            },
        };
        if stream.contains(key) {
            stream.served.fetch_add(1, Ordering::Relaxed);
            Reply::new(200, r#"{"price":"97123.45"}"#)
        } else {
            stream.rejected.fetch_add(1, Ordering::Relaxed);
            Reply::new(401, r#"{"error":"invalid API key"}"#)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outage {
    None,
    Status500,
    TooMany,
    InvalidJson,
    Slow,
}

#[derive(Default)]
struct EndpointState {
    generation: u64,
    key: String,
    /// The newest generation served with a 200, and when it first was.
    served: Option<(u64, Instant)>,
    last_too_many: Option<Instant>,
}

/// The credential endpoint: `{"key": current}`, or the injected outage.
#[derive(Clone)]
struct Endpoint {
    state: Arc<Mutex<EndpointState>>,
    outage: Arc<Mutex<Outage>>,
    fetches: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Handler for Endpoint {
    fn respond(&self, _headers: &[(String, String)]) -> Reply {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outage = *self.outage.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let fail = |t: Reply| {
            self.failed.fetch_add(1, Ordering::Relaxed);
            t
        };
        match outage {
            Outage::Status500 => return fail(Reply::new(500, "")),
            Outage::TooMany => {
                state.last_too_many = Some(Instant::now());
                let mut reply = Reply::new(429, "");
                reply.retry_after = Some(1);
                return fail(reply);
            }
            Outage::InvalidJson => {
                return fail(Reply::new(200, r#"{"key": "#));
            }
            Outage::None | Outage::Slow => {}
        }
        let generation = state.generation;
        if state.served.is_none_or(|(g, _)| g < generation) {
            state.served = Some((generation, Instant::now()));
        }
        let mut reply = Reply::new(200, &serde_json::json!({ "key": state.key }).to_string());
        if outage == Outage::Slow {
            reply.delay = Some(Duration::from_millis(250));
        }
        reply
    }
}

fn new_key(stream: &str, generation: u64) -> String {
    format!("{stream}_{generation}_{:016x}", fastrand::u64(..))
}

/// What a key file holds for a moment before the good key lands.
fn garbage(n: u64) -> Vec<u8> {
    match n % 6 {
        0 => Vec::new(),
        1 => br#"{"key":"half-writ"#.to_vec(),
        2 => vec![0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3, 0x28],
        3 => vec![b'A'; 1024 * 1024],
        4 => br#"{"key":"x","expires_at":1e20}"#.to_vec(),
        _ => b"   \n\t ".to_vec(),
    }
}

fn write_file(path: &Path, content: &[u8], in_place: bool) {
    if in_place {
        std::fs::write(path, content).expect("write key file");
    } else {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, content).expect("write temporary key file");
        std::fs::rename(&tmp, path).expect("rename over key file");
    }
}

/// One rotation of the file stream.
async fn rotate_file(api: &Api, path: &Path, generation: u64) {
    let key = new_key("file", generation);
    let hard = generation % 2 == 0;
    let in_place = generation % 4 >= 2;
    if hard {
        api.file.only(generation, &key); // the old key stops working now
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=5))).await;
    } else {
        api.file.add(generation, &key);
    }
    if generation % 3 == 0 {
        write_file(path, &garbage(generation / 3), in_place);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(2..=5))).await;
    }
    write_file(path, key.as_bytes(), in_place);
    if !hard {
        tokio::time::sleep(Duration::from_millis(30)).await;
        api.file.revoke_older_than(generation);
    }
}

/// One rotation of the endpoint stream, with the outage its position in the cycle injects.
async fn rotate_endpoint(api: &Api, endpoint: &Endpoint, generation: u64, rotate: Duration) {
    let key = new_key("endpoint", generation);
    api.endpoint.add(generation, &key); // accepted before anyone can fetch it
    {
        let mut state = endpoint.state.lock().unwrap();
        state.generation = generation;
        state.key = key.clone();
    }
    let outage = match generation % 24 {
        1 | 17 => Outage::Status500,
        5 => Outage::InvalidJson,
        9 | 21 => Outage::Slow,
        13 => Outage::TooMany,
        _ => Outage::None,
    };
    let quiet = endpoint
        .state
        .lock()
        .unwrap()
        .last_too_many
        .is_none_or(|at| at.elapsed() > Duration::from_millis(1500));
    if generation % 4 == 0 && outage == Outage::None && quiet {
        // Hard revocation while the endpoint is healthy and not gated by a Retry-After.
        api.endpoint.only(generation, &key);
        return;
    }
    if outage != Outage::None {
        *endpoint.outage.lock().unwrap() = outage;
        tokio::time::sleep(rotate).await;
        *endpoint.outage.lock().unwrap() = Outage::None;
    }
    revoke_served(api, endpoint, generation);
}

/// Revokes keys replaced 2 rotations ago or earlier, once the endpoint has served a newer
/// one for 20 ms.
fn revoke_served(api: &Api, endpoint: &Endpoint, generation: u64) {
    let served = endpoint.state.lock().unwrap().served;
    if let Some((served, at)) = served {
        if at.elapsed() >= Duration::from_millis(20) {
            let keep_from = generation.saturating_sub(2).min(served);
            api.endpoint.revoke_older_than(keep_from);
        }
    }
}

/// An HTTP answer of the local servers.
struct Reply {
    status: u16,
    body: String,
    retry_after: Option<u64>,
    delay: Option<Duration>,
}

impl Reply {
    fn new(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.to_owned(),
            retry_after: None,
            delay: None,
        }
    }
}

trait Handler: Clone + Send + Sync + 'static {
    fn respond(&self, headers: &[(String, String)]) -> Reply;
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (keep-alive, bodies skipped): wiremock keeps
/// every request a mock matched in memory, which would drown the RSS measurement.
async fn serve(handler: impl Handler) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let uri = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            socket.set_nodelay(true).ok();
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = connection(socket, handler).await;
            });
        }
    });
    Ok(uri)
}

async fn connection(socket: tokio::net::TcpStream, handler: impl Handler) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    loop {
        let mut headers = Vec::new();
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(()); // the client closed the connection
        }
        loop {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        if let Some(len) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
            let mut body = vec![0u8; len];
            read.read_exact(&mut body).await?;
        }
        let reply = handler.respond(&headers);
        if let Some(delay) = reply.delay {
            tokio::time::sleep(delay).await;
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        if let Some(secs) = reply.retry_after {
            head.push_str(&format!("retry-after: {secs}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&reply.body);
        write.write_all(head.as_bytes()).await?;
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Consumers {
    ok: AtomicU64,
    failed: AtomicU64,
}

fn spawn_consumers(
    name: &'static str,
    client: &Client,
    n: usize,
    deadline: Instant,
    counts: &Arc<Consumers>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let client = client.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match client.get("/v1/ticker").send().await {
                        Ok(resp) if resp.status().is_success() => {
                            resp.bytes().await.ok();
                            counts.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(resp) => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{name} consumer saw HTTP {}", resp.status());
                        }
                        Err(err) => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{name} consumer saw error: {err}");
                        }
                    }
                }
            })
        })
        .collect()
}

fn stats_line(name: &str, s: &Stats, rotations: u64) -> String {
    format!(
        "{name}: {} requests, {} rotations (server {rotations}), auth rejections {} ({:.2}/rotation), \
         source_errors {}, background_failures {}",
        s.requests,
        s.rotations,
        s.auth_failures,
        s.auth_failures as f64 / rotations.max(1) as f64,
        s.source_errors,
        s.background_failures
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = options();
    let rotate = Duration::from_millis(opts.rotate_ms);

    let api = Api::default();
    let api_uri = serve(api.clone()).await?;

    let endpoint = Endpoint {
        state: Arc::default(),
        outage: Arc::new(Mutex::new(Outage::None)),
        fetches: Arc::default(),
        failed: Arc::default(),
    };
    let endpoint_uri = serve(endpoint.clone()).await?;

    // Generation 0 of both streams.
    let dir = tempfile::tempdir()?;
    let key_file: PathBuf = dir.path().join("api_key");
    let first = new_key("file", 0);
    api.file.add(0, &first);
    write_file(&key_file, first.as_bytes(), false);
    let first = new_key("endpoint", 0);
    api.endpoint.add(0, &first);
    endpoint.state.lock().unwrap().key = first;

    let file_client = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header(FILE_HEADER))
        .base_url(&api_uri)
        .build()
        .await?;
    let endpoint_client = Client::builder()
        .source(
            Source::http(&format!("{endpoint_uri}/v1/credential"))
                .key_pointer("/key")
                .poll_interval(Some(Duration::from_millis(20)))
                // Polls every 20 ms must fetch, not reuse the last outcome (250 ms by default).
                .reuse_window(Duration::from_millis(5))
                .timeout(Duration::from_secs(2)),
        )
        .auth(Auth::header(ENDPOINT_HEADER))
        .base_url(&api_uri)
        .build()
        .await?;

    println!(
        "soak: {} s, a rotation every {} ms (file and endpoint streams alternating), \
         {} consumers on 2 clients, a report every {} s",
        opts.seconds, opts.rotate_ms, opts.consumers, opts.report_secs
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.seconds);
    let file_rotations = Arc::new(AtomicU64::new(0));
    let endpoint_rotations = Arc::new(AtomicU64::new(0));

    // Rotations stop a little before the consumers do, so the last one settles.
    let rotations_end = deadline - Duration::from_millis(1500).min(deadline - started);
    let file_rotator = {
        let (api, key_file, count) = (api.clone(), key_file.clone(), file_rotations.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(rotate * 2);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            while Instant::now() < rotations_end {
                tick.tick().await;
                let generation = count.fetch_add(1, Ordering::Relaxed) + 1;
                rotate_file(&api, &key_file, generation).await;
            }
        })
    };
    let endpoint_rotator = {
        let (api, endpoint, count) = (api.clone(), endpoint.clone(), endpoint_rotations.clone());
        tokio::spawn(async move {
            tokio::time::sleep(rotate).await; // half a period after the file stream
            let mut tick = tokio::time::interval(rotate * 2);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            while Instant::now() < rotations_end {
                tick.tick().await;
                let generation = count.fetch_add(1, Ordering::Relaxed) + 1;
                rotate_endpoint(&api, &endpoint, generation, rotate).await;
            }
        })
    };
    // Revocations the endpoint stream owes while rotations are quiet (after an outage).
    let reaper = {
        let (api, endpoint, count) = (api.clone(), endpoint.clone(), endpoint_rotations.clone());
        tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
                revoke_served(&api, &endpoint, count.load(Ordering::Relaxed));
            }
        })
    };

    let new_counts = || {
        Arc::new(Consumers {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    };
    let (file_counts, endpoint_counts) = (new_counts(), new_counts());
    let mut consumers = spawn_consumers(
        "file",
        &file_client,
        opts.consumers / 2,
        deadline,
        &file_counts,
    );
    consumers.extend(spawn_consumers(
        "endpoint",
        &endpoint_client,
        opts.consumers - opts.consumers / 2,
        deadline,
        &endpoint_counts,
    ));
    let total = |field: fn(&Consumers) -> &AtomicU64| {
        field(&file_counts).load(Ordering::Relaxed)
            + field(&endpoint_counts).load(Ordering::Relaxed)
    };

    let warm_up = Duration::from_secs(5).min(Duration::from_secs(opts.seconds) / 6);
    tokio::time::sleep(warm_up).await;
    let rss_start = rss_kib();
    println!(
        "{:>5.1}s  warm-up done, RSS {} KiB",
        started.elapsed().as_secs_f64(),
        rss_start
    );

    let mut next_report = started + Duration::from_secs(opts.report_secs);
    while next_report < deadline {
        tokio::time::sleep_until(next_report.into()).await;
        let (f, e) = (file_client.stats(), endpoint_client.stats());
        println!(
            "{:>5.1}s  requests {} · consumer failures {} · rotations file {}/{} endpoint {}/{} · \
             auth rejections {}+{} · source_errors {}+{} · background_failures {}+{} · RSS {} KiB",
            started.elapsed().as_secs_f64(),
            total(|c| &c.ok) + total(|c| &c.failed),
            total(|c| &c.failed),
            f.rotations,
            file_rotations.load(Ordering::Relaxed),
            e.rotations,
            endpoint_rotations.load(Ordering::Relaxed),
            f.auth_failures,
            e.auth_failures,
            f.source_errors,
            e.source_errors,
            f.background_failures,
            e.background_failures,
            rss_kib()
        );
        next_report += Duration::from_secs(opts.report_secs);
    }

    for consumer in consumers {
        consumer.await?;
    }
    file_rotator.await?;
    endpoint_rotator.await?;
    reaper.await?;
    let rss_end = rss_kib();
    let elapsed = started.elapsed().as_secs_f64();
    let (f, e) = (file_client.stats(), endpoint_client.stats());
    let ok = total(|c| &c.ok);
    let failed = total(|c| &c.failed);
    let growth = (rss_end as f64 - rss_start as f64) * 100.0 / rss_start.max(1) as f64;

    println!();
    println!(
        "requests:            {} ({:.0}/s)",
        ok + failed,
        (ok + failed) as f64 / elapsed
    );
    println!(
        "consumer failures:   {failed} (file {}, endpoint {})",
        file_counts.failed.load(Ordering::Relaxed),
        endpoint_counts.failed.load(Ordering::Relaxed)
    );
    println!(
        "{}",
        stats_line(
            "file client    ",
            &f,
            file_rotations.load(Ordering::Relaxed)
        )
    );
    println!(
        "{}",
        stats_line(
            "endpoint client",
            &e,
            endpoint_rotations.load(Ordering::Relaxed)
        )
    );
    println!(
        "api:                 file {} served / {} rejected · endpoint {} served / {} rejected",
        api.file.served.load(Ordering::Relaxed),
        api.file.rejected.load(Ordering::Relaxed),
        api.endpoint.served.load(Ordering::Relaxed),
        api.endpoint.rejected.load(Ordering::Relaxed)
    );
    println!(
        "credential endpoint: {} fetches, {} answered with an injected outage",
        endpoint.fetches.load(Ordering::Relaxed),
        endpoint.failed.load(Ordering::Relaxed)
    );
    println!(
        "RSS:                 {rss_start} KiB after warm-up, {rss_end} KiB at the end ({growth:+.1} %){}",
        if growth > 5.0 {
            "  <-- FLAG: grew more than 5 %"
        } else {
            ""
        }
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
