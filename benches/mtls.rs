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
//! - `reqwest`: `reqwest::Client` with `Identity::from_pem` and the CA as its only root;
//! - `keyswap`: `keyswap::Client` with `IdentitySource::pem_files` and `TrustSource::pem_file`
//!   (watched; the identity unchanged during the run), no key;
//! - `keyswap-fixed`: a `keyswap::Client` sending through the `reqwest` contender's client
//!   (`http_client`, fixed identity): keyswap's request path without the rotating identity.
//!
//! Per round: requests, and the process's CPU time (sum over its threads of the first field of
//! `/proc/self/task/*/schedstat`, ns) as a delta. At the end: the medians of CPU per request
//! and the median of the per-round ratios keyswap / reqwest (target ≤ 1.02).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

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

/// Writes ca.crt, server.pem (chain + key), client.crt, client.key into `dir`.
fn make_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "bench-ca");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        p.not_after = (SystemTime::now() + Duration::from_secs(86400)).into();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into()]);
    let (client_cert, client_key) = leaf(vec!["client.bench".into()]);
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert + &server_key).unwrap();
    std::fs::write(dir.join("client.crt"), client_cert).unwrap();
    std::fs::write(dir.join("client.key"), client_key).unwrap();
}

/// The server process: prints its port, serves until stdin closes.
fn serve(dir: &Path) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let pem = std::fs::read(dir.join("server.pem")).unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(&pem).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(dir.join("ca.crt")).unwrap();
        for c in CertificateDer::pem_slice_iter(&ca) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        // Exit when the parent goes away.
        std::thread::spawn(|| {
            let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            std::process::exit(0);
        });
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    let body = br#"{"symbol":"BTCUSDT","price":"97000.01"}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let mut out = head.into_bytes();
                    out.extend_from_slice(body);
                    if tls.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Contender {
    Reqwest,
    Keyswap,
    KeyswapFixed,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Reqwest => "reqwest",
            Contender::Keyswap => "keyswap",
            Contender::KeyswapFixed => "keyswap-fixed",
        }
    }
}

struct Clients {
    reqwest: reqwest::Client,
    keyswap: keyswap::Client,
    /// keyswap's request path over the `reqwest` contender's client (fixed `Identity`): what
    /// keyswap costs without its rotating identity.
    fixed: keyswap::Client,
    url: String,
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
                    let resp = match who {
                        Contender::Reqwest => {
                            clients.reqwest.get(&clients.url).send().await.unwrap()
                        }
                        Contender::Keyswap => {
                            clients.keyswap.get(&clients.url).send().await.unwrap()
                        }
                        Contender::KeyswapFixed => {
                            clients.fixed.get(&clients.url).send().await.unwrap()
                        }
                    };
                    assert!(resp.status().is_success());
                    resp.bytes().await.unwrap();
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&PathBuf::from(&args[i + 1]));
        return;
    }
    let rounds: usize = arg(&args, "--rounds", 11);
    let secs: f64 = arg(&args, "--secs", 0.6);
    let concurrency: usize = arg(&args, "--concurrency", 8);

    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let url = format!("https://127.0.0.1:{}/v1/ticker", port.trim());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        let identity = reqwest::Identity::from_pem(&[read("client.crt"), read("client.key")].concat()).unwrap();
        let reqwest = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([reqwest::Certificate::from_pem(&read("ca.crt")).unwrap()])
            .identity(identity)
            .build()
            .unwrap();
        let keyswap = keyswap::Client::builder()
            .identity(keyswap::tls::IdentitySource::pem_files(
                dir.path().join("client.crt"),
                dir.path().join("client.key"),
            ))
            .trust(keyswap::tls::TrustSource::pem_file(dir.path().join("ca.crt")))
            .build()
            .await
            .unwrap();
        let fixed = keyswap::Client::builder()
            .source(keyswap::Source::fixed("unused"))
            .auth(keyswap::Auth::none())
            .http_client(reqwest.clone())
            .build()
            .await
            .unwrap();
        let clients = Arc::new(Clients { reqwest, keyswap, fixed, url });
        let all = [Contender::Reqwest, Contender::Keyswap, Contender::KeyswapFixed];
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
    drop(server.stdin.take());
    let _ = server.wait();
}
