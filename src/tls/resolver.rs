//! The identity each handshake presents: rustls asks [`IdentityResolver`] at every full
//! handshake that requests a client certificate, and it answers with the identity current at
//! that moment — one atomic load, no lock — as the request path reads the key.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

use super::identity::ClientIdentity;

pub(crate) struct IdentityResolver {
    current: ArcSwap<ClientIdentity>,
    /// Full handshakes that presented a certificate (resumed sessions do not ask).
    handshakes: AtomicU64,
}

impl std::fmt::Debug for IdentityResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityResolver")
            .field("version", &self.current.load().version)
            .finish_non_exhaustive()
    }
}

impl IdentityResolver {
    pub(crate) fn new(first: Arc<ClientIdentity>) -> Self {
        IdentityResolver {
            current: ArcSwap::new(first),
            handshakes: AtomicU64::new(0),
        }
    }

    pub(crate) fn set(&self, identity: Arc<ClientIdentity>) {
        self.current.store(identity);
    }

    pub(crate) fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }
}

impl ResolvesClientCert for IdentityResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        Some(Arc::clone(&self.current.load().certified))
    }

    fn has_certs(&self) -> bool {
        true
    }
}
