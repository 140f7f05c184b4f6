//! What the mTLS benches run on: a CA, a server and a client certificate (rcgen); the bench
//! binary started again as a rustls HTTPS server that requires the client certificate (its own
//! process, so its work never counts against the client's); and the three clients compared.
//!
//! A bench calls [`serve_if_asked`] first thing in `main`: when its arguments hold
//! `--serve DIR` it is the server, and it never returns.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// The one answer of the server: a small JSON body, as an exchange's ticker would give.
const BODY: &[u8] = br#"{"symbol":"BTCUSDT","price":"97000.01"}"#;

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

/// When the arguments hold `--serve DIR`: serves HTTPS from `DIR`'s certificates until stdin
/// closes, then exits the process.
pub fn serve_if_asked(args: &[String]) {
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&PathBuf::from(&args[i + 1]));
        std::process::exit(0);
    }
}

/// The server process: prints its port, serves until stdin closes.
fn serve(dir: &Path) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = two_workers();
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
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
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
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            BODY.len()
        );
        let answer: Arc<[u8]> = [head.as_bytes(), BODY].concat().into();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.set_nodelay(true);
            let (acceptor, answer) = (acceptor.clone(), answer.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut pending = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests here have no body: each ends at the blank line.
                    let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    pending.drain(..end + 4);
                    if tls.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A multi-thread Tokio runtime with 2 workers (the server's, and `mtls`'s clients').
pub fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The value after `name` in `args`, parsed, else `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server process and the certificates, alive as long as this value.
pub struct Server {
    /// `https://127.0.0.1:PORT/v1/ticker`.
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    /// Issues the certificates and starts this binary again as the server.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        make_pki(dir.path());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut port,
        )
        .unwrap();
        let url = format!("https://127.0.0.1:{}/v1/ticker", port.trim());
        Server { url, child, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Contender {
    Reqwest,
    Keyswap,
    KeyswapFixed,
}

impl Contender {
    pub const ALL: [Contender; 3] = [
        Contender::Reqwest,
        Contender::Keyswap,
        Contender::KeyswapFixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Reqwest => "reqwest",
            Contender::Keyswap => "keyswap",
            Contender::KeyswapFixed => "keyswap-fixed",
        }
    }

    pub fn parse(name: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The clients compared, all calling the same absolute URL:
/// - `reqwest`: `reqwest::Client` with `Identity::from_pem` and the CA as its only root;
/// - `keyswap`: `keyswap::Client` with `IdentitySource::pem_files` and `TrustSource::pem_file`
///   (watched; the identity unchanged during the run), no key;
/// - `keyswap-fixed`: a `keyswap::Client` sending through the `reqwest` contender's client
///   (`http_client`, fixed identity): keyswap's request path without the rotating identity.
pub struct Clients {
    pub reqwest: reqwest::Client,
    pub keyswap: keyswap::Client,
    pub fixed: keyswap::Client,
    pub url: String,
}

impl Clients {
    pub async fn new(server: &Server) -> Clients {
        let read = |name: &str| std::fs::read(server.path(name)).unwrap();
        let identity =
            reqwest::Identity::from_pem(&[read("client.crt"), read("client.key")].concat())
                .unwrap();
        let reqwest = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([reqwest::Certificate::from_pem(&read("ca.crt")).unwrap()])
            .identity(identity)
            .build()
            .unwrap();
        let keyswap = keyswap::Client::builder()
            .identity(keyswap::tls::IdentitySource::pem_files(
                server.path("client.crt"),
                server.path("client.key"),
            ))
            .trust(keyswap::tls::TrustSource::pem_file(server.path("ca.crt")))
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
        Clients {
            reqwest,
            keyswap,
            fixed,
            url: server.url.clone(),
        }
    }

    /// One `GET`, its body read whole.
    pub async fn call(&self, who: Contender) {
        let resp = match who {
            Contender::Reqwest => self.reqwest.get(&self.url).send().await.unwrap(),
            Contender::Keyswap => self.keyswap.get(&self.url).send().await.unwrap(),
            Contender::KeyswapFixed => self.fixed.get(&self.url).send().await.unwrap(),
        };
        assert!(resp.status().is_success());
        resp.bytes().await.unwrap();
    }
}
