//! A real TLS server that requires client certificates (rustls, over TCP on 127.0.0.1), and
//! the certificate authorities that issue the test's certificates (rcgen).
//!
//! The server revokes hard: it trusts only the client certificate the test names as newest
//! (refused at the handshake with `certificate_revoked`, and per request with 403 on a
//! connection opened with an older one). It counts what the tests assert on: requests that
//! arrived on a connection after that connection was refused, handshakes that presented an
//! expired certificate, handshakes refused.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub der: CertificateDer<'static>,
    serial: AtomicU64,
}

/// A leaf certificate and its key, as PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    /// Chain and key in one PEM.
    pub fn combined(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            serial: AtomicU64::new(1),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), valid from a minute ago for `lifetime`.
    pub fn issue(&self, names: &[&str], lifetime: Duration) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(60)).into();
        params.not_after = (now + lifetime).into();
        params.serial_number = Some(self.serial.fetch_add(1, Ordering::Relaxed).into());
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    pub fn client(&self, lifetime: Duration) -> Leaf {
        self.issue(&["client.test"], lifetime)
    }
}

/// What the server counts.
#[derive(Default, Debug)]
pub struct Counts {
    pub requests: AtomicUsize,
    pub ok: AtomicUsize,
    pub refused_requests: AtomicUsize,
    /// Requests that arrived on a connection the server had already refused.
    pub after_refusal: AtomicUsize,
    pub handshakes: AtomicUsize,
    pub handshake_refusals: AtomicUsize,
    /// Handshakes that presented a certificate past its `notAfter`.
    pub expired_presented: AtomicUsize,
}

/// The client-certificate verifier: the CA's chain check, plus "only the newest" when set.
#[derive(Debug)]
struct OnlyNewest {
    inner: Arc<dyn ClientCertVerifier>,
    newest: Arc<Mutex<Option<Vec<u8>>>>,
    counts: Arc<Counts>,
}

impl OnlyNewest {
    fn trusted(&self, der: &[u8]) -> bool {
        self.newest
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|n| n.as_slice() == der)
    }
}

impl ClientCertVerifier for OnlyNewest {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(rustls::Error::InvalidCertificate(
                e @ (CertificateError::Expired | CertificateError::ExpiredContext { .. }),
            )) => {
                self.counts
                    .expired_presented
                    .fetch_add(1, Ordering::Relaxed);
                Err(rustls::Error::InvalidCertificate(e))
            }
            Err(e) => Err(e),
            Ok(_) if !self.trusted(end_entity.as_ref()) => {
                Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
            }
            Ok(v) => Ok(v),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server's own certificate, swappable (a re-issue under a new CA).
#[derive(Debug)]
struct ServerCert(Mutex<Arc<CertifiedKey>>);

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.lock().unwrap().clone())
    }
}

fn certified(leaf: &Leaf) -> Arc<CertifiedKey> {
    use rustls::pki_types::pem::PemObject;
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let chain = vec![CertificateDer::from(leaf.der.clone())];
    Arc::new(CertifiedKey::from_der(chain, key, &provider()).unwrap())
}

/// The running server.
pub struct MtlsServer {
    pub url: String,
    pub counts: Arc<Counts>,
    /// The certificate each accepted connection presented (resumed ones: the session's).
    pub peers: Arc<Mutex<Vec<Vec<u8>>>>,
    newest: Arc<Mutex<Option<Vec<u8>>>>,
    server_cert: Arc<ServerCert>,
    /// When set, requests must carry one of these keys in `x-api-key` (else 401).
    keys: Arc<Mutex<Option<HashSet<String>>>>,
    close_after: Arc<AtomicUsize>,
}

impl MtlsServer {
    /// Serves on 127.0.0.1 with `server` as its certificate, requiring client certificates
    /// issued by `client_ca`.
    pub async fn start(client_ca: &Ca, server: &Leaf) -> MtlsServer {
        Self::start_with(client_ca, server, true).await
    }

    /// `resumption: false`: no session tickets or cache, every connection a full handshake
    /// (each verifies the server's certificate anew).
    pub async fn start_with(client_ca: &Ca, server: &Leaf, resumption: bool) -> MtlsServer {
        let counts = Arc::new(Counts::default());
        let newest = Arc::new(Mutex::new(None));
        let mut roots = RootCertStore::empty();
        roots.add(client_ca.der.clone()).unwrap();
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        let verifier = Arc::new(OnlyNewest {
            inner,
            newest: newest.clone(),
            counts: counts.clone(),
        });
        let server_cert = Arc::new(ServerCert(Mutex::new(certified(server))));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(server_cert.clone());
        if !resumption {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        let peers: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let peers_seen = peers.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let keys: Arc<Mutex<Option<HashSet<String>>>> = Arc::default();
        let close_after = Arc::new(AtomicUsize::new(0));
        let (c, n, k, ca) = (
            counts.clone(),
            newest.clone(),
            keys.clone(),
            close_after.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let peers = peers_seen.clone();
                let (acceptor, counts, newest, keys, close) = (
                    acceptor.clone(),
                    c.clone(),
                    n.clone(),
                    k.clone(),
                    ca.load(Ordering::Relaxed),
                );
                tokio::spawn(async move {
                    counts.handshakes.fetch_add(1, Ordering::Relaxed);
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        counts.handshake_refusals.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let peer = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec())
                        .unwrap_or_default();
                    peers.lock().unwrap().push(peer.clone());
                    serve(stream, peer, counts, newest, keys, close).await;
                });
            }
        });
        MtlsServer {
            url,
            counts,
            peers,
            newest,
            server_cert,
            keys,
            close_after,
        }
    }

    /// Connections opened from now on are closed (`connection: close`) after `n` requests.
    pub fn close_after(&self, n: usize) {
        self.close_after.store(n, Ordering::Relaxed);
    }

    /// From now on only `leaf` is accepted (hard revocation of every other).
    pub fn trust_only(&self, leaf: &Leaf) {
        *self.newest.lock().unwrap() = Some(leaf.der.clone());
    }

    /// The server presents `leaf` from its next handshake on.
    pub fn present(&self, leaf: &Leaf) {
        *self.server_cert.0.lock().unwrap() = certified(leaf);
    }

    /// Requires the `x-api-key` header to be one of `keys`.
    pub fn require_keys(&self, keys: &[&str]) {
        *self.keys.lock().unwrap() = Some(keys.iter().map(|k| k.to_string()).collect());
    }

    pub fn count(&self, c: impl Fn(&Counts) -> &AtomicUsize) -> usize {
        c(&self.counts).load(Ordering::Relaxed)
    }
}

/// HTTP/1.1 keep-alive on one connection: 200 "ok"; 403 when the connection's certificate is
/// no longer the trusted one; 401 when a key is required and missing or unknown.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    peer: Vec<u8>,
    counts: Arc<Counts>,
    newest: Arc<Mutex<Option<Vec<u8>>>>,
    keys: Arc<Mutex<Option<HashSet<String>>>>,
    close_after: usize,
) {
    let mut buf = Vec::with_capacity(4096);
    let mut refused = false;
    let mut served = 0;
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let body_len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("x-api-key:"))
            .map(|v| v.trim().to_owned());
        buf.drain(..head_end + body_len);
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if refused {
            counts.after_refusal.fetch_add(1, Ordering::Relaxed);
        }
        let cert_ok = newest.lock().unwrap().as_ref().is_none_or(|n| *n == peer);
        let key_ok = match &*keys.lock().unwrap() {
            None => true,
            Some(keys) => key.is_some_and(|k| keys.contains(&k)),
        };
        let answer: &[u8] = if !cert_ok {
            refused = true;
            counts.refused_requests.fetch_add(1, Ordering::Relaxed);
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 19\r\n\r\ncertificate revoked"
        } else if !key_ok {
            counts.refused_requests.fetch_add(1, Ordering::Relaxed);
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 11\r\n\r\ninvalid key"
        } else {
            counts.ok.fetch_add(1, Ordering::Relaxed);
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        };
        served += 1;
        let last = close_after != 0 && served >= close_after;
        let answer = if last {
            let text = String::from_utf8_lossy(answer);
            text.replacen("\r\n", "\r\nconnection: close\r\n", 1)
                .into_bytes()
        } else {
            answer.to_vec()
        };
        if stream.write_all(&answer).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if last {
            let _ = stream.shutdown().await;
            return;
        }
    }
}
