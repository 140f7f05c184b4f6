//! Where a client identity and a CA bundle come from: PEM files (a certificate file and a key
//! file, or one combined file), the Kubernetes TLS-secret layout (`tls.crt`, `tls.key`,
//! `ca.crt`, as cert-manager and the Secrets Store CSI driver write them, behind `..data`
//! swaps), SPIFFE helper files, or any [`Source`] whose key is the certificate chain and whose
//! secret is the private key (a JSON endpoint such as Vault PKI).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::source::Source;

use super::identity::MAX_PEM_BYTES;

/// Where the client certificate chain and its private key come from. They are read together
/// and rotate as one credential: a pair whose public keys do not match is refused and the last
/// good pair keeps serving. Files are watched (through their directory, as key files are) and
/// re-read every [`DEFAULT_IDENTITY_POLL_INTERVAL`] as a fallback; every source is also
/// re-read ahead of the certificate's `notAfter` and when the server refuses it.
///
/// ```
/// use keyswap::tls::IdentitySource;
/// // cert-manager / a Kubernetes TLS secret mounted at /var/run/tls:
/// let k8s = IdentitySource::kubernetes("/var/run/tls");
/// // Two PEM files, or one file holding both:
/// let files = IdentitySource::pem_files("client.crt", "client.key");
/// let one = IdentitySource::pem_file("client.pem");
/// // The SPIFFE helper's files:
/// let svid = IdentitySource::pem_files("/run/spiffe/svid.pem", "/run/spiffe/svid_key.pem");
/// ```
#[derive(Clone)]
pub struct IdentitySource {
    pub(crate) kind: IdentityKind,
    pub(crate) poll: Duration,
}

#[derive(Clone)]
pub(crate) enum IdentityKind {
    /// The chain in one file, the key in another (or the same path twice).
    Files { cert: PathBuf, key: PathBuf },
    /// A [`Source`]: the credential's key is the chain's PEM, its secret the key's PEM.
    Credential(Source),
}

/// Default for [`IdentitySource::poll_interval`]: 10 s (a fallback behind the file watch).
pub const DEFAULT_IDENTITY_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl IdentitySource {
    /// The certificate chain (leaf first) in `cert`, the private key (PKCS#8, PKCS#1 or SEC1)
    /// in `key`.
    pub fn pem_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        IdentitySource {
            kind: IdentityKind::Files {
                cert: cert.into(),
                key: key.into(),
            },
            poll: DEFAULT_IDENTITY_POLL_INTERVAL,
        }
    }

    /// One PEM file holding the chain and the key.
    pub fn pem_file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        IdentitySource::pem_files(path.clone(), path)
    }

    /// A Kubernetes TLS secret mounted at `dir`: `dir/tls.crt` and `dir/tls.key` (the CA, if
    /// any, in `dir/ca.crt`: see [`TrustSource::kubernetes`]).
    pub fn kubernetes(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        IdentitySource::pem_files(dir.join("tls.crt"), dir.join("tls.key"))
    }

    /// Any credential source whose key is the certificate chain's PEM and whose secret is the
    /// private key's PEM. For a JSON endpoint such as Vault PKI, point the key at
    /// `/data/certificate` and the secret at `/data/private_key` (see
    /// [`HttpSource`](crate::HttpSource)). Polled on the source's own poll interval (an
    /// endpoint's: 5 min), or [`poll_interval`](Self::poll_interval); re-read sooner as the
    /// certificate nears its `notAfter`, and when the server refuses it.
    pub fn from_source(source: impl Into<Source>) -> Self {
        let source = source.into();
        IdentitySource {
            poll: source
                .0
                .poll_interval()
                .unwrap_or(DEFAULT_IDENTITY_POLL_INTERVAL),
            kind: IdentityKind::Credential(source),
        }
    }

    /// An identity from a configuration string (`KEYSWAP_CERT`, Python's `cert=`): paths only,
    /// never key material. `CERT,KEY` (two PEM files), `PEM` (one combined file), or a
    /// directory (the Kubernetes TLS-secret layout); a `file:` prefix is allowed.
    ///
    /// ```
    /// use keyswap::tls::IdentitySource;
    /// let two = IdentitySource::parse("/etc/tls/client.crt,/etc/tls/client.key")?;
    /// assert_eq!(two.name(), "pem:/etc/tls/client.crt+/etc/tls/client.key");
    /// assert!(IdentitySource::parse(" ").is_err());
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn parse(s: &str) -> crate::Result<Self> {
        let paths: Vec<&str> = s.split(',').map(config_path).collect();
        match paths.as_slice() {
            [""] => Err(crate::Error::builder(
                "a client certificate string is a path: CERT,KEY, a combined PEM, or a directory",
            )),
            [one] if Path::new(one).is_dir() => Ok(IdentitySource::kubernetes(one)),
            [one] => Ok(IdentitySource::pem_file(one)),
            [cert, key] if !cert.is_empty() && !key.is_empty() => {
                Ok(IdentitySource::pem_files(cert, key))
            }
            _ => Err(crate::Error::builder(
                "a client certificate string is CERT,KEY (two paths), a combined PEM, or a directory",
            )),
        }
    }

    /// How often the identity is re-read when nothing signalled a change. Default:
    /// [`DEFAULT_IDENTITY_POLL_INTERVAL`] (10 s) for files, the source's own interval for
    /// [`from_source`](Self::from_source).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// A name for errors and logs (paths, or the source's name; never key material).
    pub fn name(&self) -> String {
        match &self.kind {
            IdentityKind::Files { cert, key } if cert == key => {
                format!("pem:{}", cert.display())
            }
            IdentityKind::Files { cert, key } => {
                format!("pem:{}+{}", cert.display(), key.display())
            }
            IdentityKind::Credential(source) => format!("identity:{}", source.name()),
        }
    }

    /// The files to watch, if any.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        match &self.kind {
            IdentityKind::Files { cert, key } if cert == key => vec![cert.clone()],
            IdentityKind::Files { cert, key } => vec![cert.clone(), key.clone()],
            IdentityKind::Credential(_) => Vec::new(),
        }
    }

    /// The chain's PEM and the key's PEM as the source holds them now.
    pub(crate) async fn read(&self, timeout: Duration) -> Result<(Vec<u8>, Vec<u8>), String> {
        match &self.kind {
            IdentityKind::Files { cert, key } => read_files(cert, key),
            IdentityKind::Credential(source) => {
                let loaded = tokio::time::timeout(timeout, source.0.load())
                    .await
                    .map_err(|_| format!("load timed out after {timeout:?}"))?
                    .map_err(|e| e.to_string())?;
                let secret = loaded
                    .expose_secret()
                    .ok_or("the credential has no secret (the private key's PEM)")?;
                Ok((
                    loaded.expose_key().as_bytes().to_vec(),
                    secret.as_bytes().to_vec(),
                ))
            }
        }
    }
}

/// Reads the chain and key files (the same file once when they are one).
pub(crate) fn read_files(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &Path| {
        crate::source::read_capped(path, MAX_PEM_BYTES)
            .map_err(|e| format!("{}: {}", path.display(), crate::source::describe_io(&e)))
    };
    let chain = read(cert)?;
    let key = if key == cert {
        chain.clone()
    } else {
        read(key)?
    };
    Ok((chain, key))
}

impl fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdentitySource").field(&self.name()).finish()
    }
}

/// The CA bundle that verifies the *server*, re-read when its file changes (and at once when
/// a server certificate's issuer is unknown, in case the file already has the new CA). Without
/// one, the platform's trust store verifies the server.
///
/// ```
/// use keyswap::tls::TrustSource;
/// let ca = TrustSource::pem_file("/etc/ssl/private-ca.pem");
/// let k8s = TrustSource::kubernetes("/var/run/tls"); // ca.crt
/// ```
#[derive(Clone, Debug)]
pub struct TrustSource {
    pub(crate) path: PathBuf,
}

impl TrustSource {
    /// A PEM file of one or more CA certificates.
    pub fn pem_file(path: impl Into<PathBuf>) -> Self {
        TrustSource { path: path.into() }
    }

    /// `dir/ca.crt` of a Kubernetes TLS secret mounted at `dir`.
    pub fn kubernetes(dir: impl AsRef<Path>) -> Self {
        TrustSource::pem_file(dir.as_ref().join("ca.crt"))
    }

    /// A CA bundle from a configuration string (`KEYSWAP_VERIFY`, Python's `verify=`): a PEM
    /// file's path, or a directory (its `ca.crt`); a `file:` prefix is allowed.
    pub fn parse(s: &str) -> crate::Result<Self> {
        let path = config_path(s);
        if path.is_empty() {
            return Err(crate::Error::builder("a CA bundle string is a path"));
        }
        Ok(if Path::new(path).is_dir() {
            TrustSource::kubernetes(path)
        } else {
            TrustSource::pem_file(path)
        })
    }
}

fn config_path(s: &str) -> &str {
    let s = s.trim();
    let s = s.strip_prefix("file://").unwrap_or(s);
    s.strip_prefix("file:").unwrap_or(s)
}
