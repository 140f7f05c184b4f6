//! Verifying the server with a CA bundle that rotates: a private CA (cert-manager's `ca.crt`)
//! is re-issued, the bundle file rewritten, and a server certificate issued under the new CA
//! must be accepted from then on, without a restart.
//!
//! The verifier in use sits behind an `ArcSwap` (one atomic load per handshake). The watch path
//! re-reads the bundle when its file changes; and a handshake whose server certificate has an
//! unknown issuer re-reads it at once (a small bounded read, on a path that is otherwise a
//! failure): a server that switched to the new CA a moment before the watch delivered the
//! bundle is then accepted, not refused.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::identity::{MAX_PEM_BYTES, certificates};
use crate::source::read_capped;

/// A server verifier over the CA bundle at `path`, re-read when it changes.
pub(crate) struct RotatingTrust {
    path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Arc<WebPkiServerVerifier>>,
    /// The SHA-256 of the bundle in use: a re-read that finds the same bytes changes nothing.
    hash: Mutex<[u8; 32]>,
    rotations: AtomicU64,
}

impl std::fmt::Debug for RotatingTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingTrust")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RotatingTrust {
    /// Reads the bundle at `path`; fails, saying why, when it holds no usable CA certificate.
    pub(crate) fn new(path: PathBuf, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let (hash, verifier) = read_bundle(&path, &provider)?;
        Ok(RotatingTrust {
            path,
            provider,
            current: ArcSwap::from_pointee(verifier),
            hash: Mutex::new(hash),
            rotations: AtomicU64::new(0),
        })
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Times a new bundle replaced the one in use.
    pub(crate) fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Relaxed)
    }

    /// Re-reads the bundle; swaps it in when it changed and is valid. `Ok(true)`: swapped.
    /// A bad bundle (empty, garbage, too big) is refused and the one in use stays.
    pub(crate) fn reload(&self) -> Result<bool, String> {
        // Read under the lock: a reader that read the old file must not swap it back in over
        // a newer one a concurrent reader installed (the watch and a handshake race here).
        let mut current = self.hash.lock().unwrap_or_else(|p| p.into_inner());
        let (hash, verifier) = read_bundle(&self.path, &self.provider)?;
        if *current == hash {
            return Ok(false);
        }
        *current = hash;
        self.current.store(Arc::new(verifier));
        self.rotations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(path = %self.path.display(), "CA bundle rotated");
        Ok(true)
    }
}

fn read_bundle(
    path: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Result<([u8; 32], Arc<WebPkiServerVerifier>), String> {
    let bytes = read_capped(path, MAX_PEM_BYTES).map_err(|e| {
        format!(
            "CA bundle {}: {}",
            path.display(),
            crate::source::describe_io(&e)
        )
    })?;
    let certs = certificates(&bytes).map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "CA bundle {}: no usable CA certificate in it",
            path.display()
        ));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
    Ok((Sha256::digest(&bytes).into(), verifier))
}

impl ServerCertVerifier for RotatingTrust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let in_use = self.current.load();
        let verified =
            in_use.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) = verified
        else {
            return verified;
        };
        // The server may have moved to a CA the bundle file already has and the watch has not
        // delivered yet: re-read it. Whoever swapped it in (this reload, or the watch's a moment
        // earlier, whose bundle this reload then finds unchanged), the verifier in use now is
        // the one to ask again if it is not the one that refused.
        let _ = self.reload();
        let now_in_use = self.current.load();
        if Arc::ptr_eq(&*now_in_use, &*in_use) {
            return verified;
        }
        now_in_use.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
