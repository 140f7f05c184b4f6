//! A client identity: a certificate chain and its private key, parsed from PEM and checked as
//! one credential before it may replace the one in use.
//!
//! Checked here, so that nothing a source delivers can break the handshake of the next
//! connection: the chain and the key parse, the leaf's public key is the private key's (a torn
//! pair — a new certificate beside the old key — is refused), the input is small (a PEM of a
//! few certificates fits in a few KiB), and the leaf's `notAfter` is read as the expiry.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// The largest PEM input accepted for an identity or a CA bundle (all files of it together).
/// A chain of four RSA-4096 certificates and its key take about 10 KiB.
pub const MAX_PEM_BYTES: usize = 256 * 1024;

/// A parsed and checked client identity, ready for handshakes. `Debug` shows the version and
/// the expiry, never the key.
pub(crate) struct ClientIdentity {
    pub(crate) certified: Arc<CertifiedKey>,
    /// Short hex of the SHA-256 of the chain's DER: equal for equal chains.
    pub(crate) version: String,
    /// The leaf's `notAfter`.
    pub(crate) not_after: Option<SystemTime>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("version", &self.version)
            .field("not_after", &self.not_after.map(humantime::format_rfc3339))
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Parses `chain_pem` (the leaf first, then intermediates) and `key_pem` (PKCS#8, PKCS#1 or
    /// SEC1). Both may be the same bytes (one combined file). Errors say what is wrong, never
    /// what the input holds.
    pub(crate) fn from_pem(
        chain_pem: &[u8],
        key_pem: &[u8],
        provider: &CryptoProvider,
    ) -> Result<ClientIdentity, String> {
        // One combined file is given as both: its size counts once.
        let size = if chain_pem == key_pem {
            chain_pem.len()
        } else {
            chain_pem.len() + key_pem.len()
        };
        if size > MAX_PEM_BYTES {
            return Err(format!(
                "the PEM input is {size} bytes, over the limit of {MAX_PEM_BYTES}"
            ));
        }
        let chain = certificates(chain_pem)?;
        if chain.is_empty() {
            return Err("no certificate (no PEM block \"CERTIFICATE\")".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key (no PEM block \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")"
                    .to_owned()
            }
            _ => "the private key's PEM is malformed".to_owned(),
        })?;
        let not_after = not_after(&chain[0])?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|_| "the private key cannot be used (unsupported or malformed)".to_owned())?;
        let version = version_of(&chain);
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err("the certificate's public key does not match the private key (a torn pair: certificate and key from different rotations?)".into());
            }
            Err(_) => {
                return Err(
                    "cannot check that the certificate's public key matches the private key".into(),
                );
            }
        }
        Ok(ClientIdentity {
            certified: Arc::new(certified),
            version,
            not_after,
        })
    }

    /// Whether the leaf has expired at `now`.
    pub(crate) fn expired_at(&self, now: SystemTime) -> bool {
        self.not_after.is_some_and(|end| end <= now)
    }
}

/// Every `CERTIFICATE` block of `pem`, in order; other blocks (a key in a combined file) are
/// skipped.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "a certificate's PEM is malformed".to_owned())
}

/// The `notAfter` of `cert`, read from its DER.
pub(crate) fn not_after(cert: &CertificateDer<'_>) -> Result<Option<SystemTime>, String> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|_| "the certificate is not valid X.509 DER".to_owned())?;
    Ok(Some(
        parsed.tbs_certificate.validity.not_after.to_system_time(),
    ))
}

fn version_of(chain: &[CertificateDer<'_>]) -> String {
    let mut hash = Sha256::new();
    for cert in chain {
        hash.update((cert.len() as u64).to_be_bytes());
        hash.update(cert.as_ref());
    }
    hex::encode(&hash.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        rustls::crypto::aws_lc_rs::default_provider()
    }

    fn leaf(days: u64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
        let now = SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(60)).into();
        params.not_after = (now + std::time::Duration::from_secs(days * 86400)).into();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_pair_parses_separate_or_combined_with_its_expiry_and_a_stable_version() {
        let (cert, key) = leaf(2);
        let a = ClientIdentity::from_pem(cert.as_bytes(), key.as_bytes(), &provider()).unwrap();
        let combined = format!("{cert}{key}");
        let b = ClientIdentity::from_pem(combined.as_bytes(), combined.as_bytes(), &provider())
            .unwrap();
        assert_eq!(a.version, b.version);
        assert_eq!(a.version.len(), 16);
        let left = a
            .not_after
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(left > std::time::Duration::from_secs(86400), "{left:?}");
        assert!(!a.expired_at(SystemTime::now()));
        assert!(a.expired_at(SystemTime::now() + std::time::Duration::from_secs(3 * 86400)));
        let debug = format!("{a:?}");
        assert!(
            debug.contains(&a.version) && !debug.contains("PRIVATE"),
            "{debug}"
        );
    }

    #[test]
    fn torn_empty_and_oversized_inputs_say_why() {
        let ((cert, _), (_, other_key)) = (leaf(1), leaf(1));
        let why = |c: &[u8], k: &[u8]| ClientIdentity::from_pem(c, k, &provider()).unwrap_err();
        assert!(why(cert.as_bytes(), other_key.as_bytes()).contains("torn pair"));
        assert!(why(b"", other_key.as_bytes()).contains("no certificate"));
        assert!(why(cert.as_bytes(), b"").contains("no private key"));
        let big = vec![b'A'; MAX_PEM_BYTES];
        assert!(why(&big, other_key.as_bytes()).contains("over the limit"));
        let mangled = cert.replace("MII", "M!I");
        assert!(why(mangled.as_bytes(), other_key.as_bytes()).contains("malformed"));
    }
}
