//! One client's TLS identity state: the generation in use, how a new one replaces it, and the
//! counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use tokio::sync::watch;

use super::generation::{Configure, Generation, Parts};
use super::identity::ClientIdentity;
use super::resolver::IdentityResolver;
use super::source::{IdentitySource, TrustSource};
use super::trust::RotatingTrust;
use crate::error::{Error, Result};

/// Counters of a client's TLS identity, from [`Client::tls_stats`](crate::Client::tls_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsStats {
    /// Full handshakes that presented the client certificate (resumed sessions do not count).
    pub handshakes: u64,
    /// Times a new identity (certificate and key) replaced the one in use.
    pub identity_rotations: u64,
    /// Times the server refused the identity (a certificate alert, or 401/403 on an mTLS client).
    pub identity_rejections: u64,
    /// Loads of the identity source that failed or were refused (torn pair, garbage, too big,
    /// expired while the current one is valid): the last good identity kept serving.
    pub identity_errors: u64,
    /// Connection pools started: one per identity, plus one each time a refused pool was
    /// retired with the identity unchanged.
    pub generations: u64,
    /// Times a new CA bundle replaced the one verifying the server.
    pub trust_rotations: u64,
}

pub(crate) struct Tls {
    pub(crate) source: IdentitySource,
    pub(crate) source_name: String,
    /// Set by the first successful [`start`](Tls::start).
    parts: OnceLock<Parts>,
    provider: Arc<CryptoProvider>,
    pub(crate) trust: OnceLock<Arc<RotatingTrust>>,
    trust_source: Option<TrustSource>,
    configure: Option<Configure>,
    resolver: OnceLock<Arc<IdentityResolver>>,
    current: ArcSwapOption<Generation>,
    next_id: AtomicU64,
    /// One reload at a time (the watch path and the recover path).
    reloading: tokio::sync::Mutex<()>,
    /// When the recover path's last reload began.
    last_reload: Mutex<Option<Instant>>,
    /// One install at a time (a retire checks which generation is current, then replaces it).
    installing: Mutex<()>,
    /// Bumped with every new generation (its id): the recover path's bounded wait listens.
    changed: watch::Sender<u64>,
    pub(crate) load_timeout: Duration,
    /// How long a refused request waits for a new identity when the source has none.
    pub(crate) await_rotation: Duration,
    /// No key: the identity is the only credential (a 401/403 can only be about it).
    pub(crate) identity_only: bool,
    rotations: AtomicU64,
    pub(crate) rejections: AtomicU64,
    errors: AtomicU64,
    generations: AtomicU64,
    /// The watch task, and the process generation it runs in (see [`crate::fork`]).
    pub(crate) watcher: Mutex<Option<(u64, tokio::task::AbortHandle)>>,
}

impl Drop for Tls {
    fn drop(&mut self) {
        let watcher = self.watcher.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, handle)) = watcher.take() {
            crate::fork::stop_task(generation, handle);
        }
    }
}

impl Tls {
    /// Checks the settings; reads nothing (the first load is [`start`](Self::start)'s).
    pub(crate) fn new(
        source: IdentitySource,
        trust: Option<TrustSource>,
        configure: Option<Configure>,
        load_timeout: Duration,
        await_rotation: Duration,
        identity_only: bool,
    ) -> Tls {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        Tls {
            source_name: source.name(),
            source,
            parts: OnceLock::new(),
            provider,
            trust: OnceLock::new(),
            trust_source: trust,
            configure,
            resolver: OnceLock::new(),
            current: ArcSwapOption::empty(),
            next_id: AtomicU64::new(1),
            reloading: tokio::sync::Mutex::new(()),
            last_reload: Mutex::new(None),
            installing: Mutex::new(()),
            changed: watch::channel(0).0,
            load_timeout,
            await_rotation,
            identity_only,
            rotations: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            watcher: Mutex::new(None),
        }
    }

    /// The first load: the identity and the CA bundle, checked; the first generation built.
    /// Fails naming the source and the cause.
    pub(crate) async fn start(&self) -> Result<()> {
        let identity = self.load().await?;
        if self.parts.get().is_none() {
            let verifier: Arc<dyn ServerCertVerifier> = match &self.trust_source {
                Some(t) => {
                    let trust = RotatingTrust::new(t.path.clone(), self.provider.clone())
                        .map_err(Error::builder)?;
                    self.trust.get_or_init(|| Arc::new(trust)).clone()
                }
                None => Arc::new(
                    rustls_platform_verifier::Verifier::new(self.provider.clone())
                        .map_err(|e| Error::builder(format!("the platform's trust store: {e}")))?,
                ),
            };
            let resolver = self
                .resolver
                .get_or_init(|| Arc::new(IdentityResolver::new(identity.clone())))
                .clone();
            let _ = self.parts.set(Parts {
                provider: self.provider.clone(),
                verifier,
                resolver,
                configure: self.configure.clone(),
            });
        }
        if let Some(resolver) = self.resolver.get() {
            resolver.set(identity.clone());
        }
        let first = self.build(identity)?;
        self.install(first);
        tracing::info!(source = %self.source_name, version = %self.version(), "client certificate loaded");
        Ok(())
    }

    fn build(&self, identity: Arc<ClientIdentity>) -> Result<Generation> {
        let parts = self
            .parts
            .get()
            .ok_or_else(|| Error::builder("the TLS identity is not loaded yet"))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.generations.fetch_add(1, Ordering::Relaxed);
        parts.build(id, identity).map_err(Error::builder)
    }

    /// Reads and checks the identity the source holds now.
    async fn load(&self) -> Result<Arc<ClientIdentity>> {
        let fail = |why: String| Error::source(&self.source_name, why);
        let (chain, key) = self.source.read(self.load_timeout).await.map_err(fail)?;
        let identity = ClientIdentity::from_pem(&chain, &key, &self.provider).map_err(fail)?;
        Ok(Arc::new(identity))
    }

    /// The generation requests use now (`None` before [`start`](Self::start)).
    #[inline]
    pub(crate) fn current(&self) -> Option<Arc<Generation>> {
        self.current.load_full()
    }

    /// The version of the identity in use (a hash of its chain; never key material).
    pub(crate) fn version(&self) -> String {
        self.current
            .load()
            .as_ref()
            .map(|g| g.identity.version.clone())
            .unwrap_or_default()
    }

    /// When the identity in use expires (its leaf's `notAfter`).
    pub(crate) fn not_after(&self) -> Option<SystemTime> {
        self.current
            .load()
            .as_ref()
            .and_then(|g| g.identity.not_after)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// In a forked child: the generation in use holds the parent's pooled connections (its
    /// sockets are shared with the parent). A new generation with the same identity takes
    /// over; the parent's is left alone (leaked, never used or closed here).
    pub(crate) fn after_fork(&self) {
        let Some(current) = self.current() else {
            return;
        };
        match self.build(current.identity.clone()) {
            Ok(fresh) => {
                let id = fresh.id;
                let parents = self.current.swap(Some(Arc::new(fresh)));
                std::mem::forget(parents);
                self.changed.send_replace(id);
            }
            Err(err) => {
                tracing::warn!(source = %self.source_name, error = %err, "cannot rebuild the TLS connection pool in a forked child");
            }
        }
    }

    fn install(&self, generation: Generation) {
        let id = generation.id;
        self.current.store(Some(Arc::new(generation)));
        self.changed.send_replace(id);
    }

    /// Re-reads the source; installs the identity it holds when it is new and acceptable.
    /// `Ok(true)`: a new identity is in use. A refused or failed load changes nothing (the last
    /// good identity keeps serving) and is returned.
    pub(crate) async fn reload(&self) -> Result<bool> {
        let _one = self.reloading.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<bool> {
        let loaded = match self.load().await {
            Ok(identity) => identity,
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %self.source_name, error = %err, "keeping the last good client certificate");
                return Err(err);
            }
        };
        let Some(current) = self.current() else {
            return Ok(false);
        };
        if loaded.version == current.identity.version {
            return Ok(false);
        }
        let now = SystemTime::now();
        if loaded.expired_at(now) && !current.identity.expired_at(now) {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let err = Error::source(
                &self.source_name,
                "the new certificate has expired; keeping the current one, still valid",
            );
            tracing::warn!(error = %err, "client certificate refused");
            return Err(err);
        }
        if let Some(resolver) = self.resolver.get() {
            resolver.set(loaded.clone());
        }
        let _one = self.installing.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.build(loaded)?;
        tracing::info!(
            source = %self.source_name,
            old = %current.identity.version,
            new = %generation.identity.version,
            "client certificate rotated"
        );
        self.install(generation);
        self.rotations.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Retires generation `refused` if it is still the one in use: a fresh generation of the
    /// same identity replaces it, so the refused connection, its pool and its sessions carry
    /// nothing more (requests in flight on it finish). Synchronous: called the moment a
    /// refusal is seen, before any wait.
    pub(crate) fn retire(&self, refused: u64) {
        let _one = self.installing.lock().unwrap_or_else(|p| p.into_inner());
        let Some(current) = self.current().filter(|g| g.id == refused) else {
            return;
        };
        match self.build(current.identity.clone()) {
            Ok(fresh) => self.install(fresh),
            Err(err) => tracing::warn!(error = %err, "cannot start a new connection pool"),
        }
    }

    /// After the server refused `refused` (generation id and identity version) at `at`: retires
    /// the refused generation, then re-reads the source unless another identity is already in
    /// use or a load began after the refusal (one load for all callers refused together).
    /// Returns the generation to retry on and whether its identity is another one.
    pub(crate) async fn refresh_after_refusal(
        &self,
        refused: u64,
        refused_version: &str,
        at: Instant,
    ) -> Option<(Arc<Generation>, bool)> {
        self.retire(refused);
        let _one = self.reloading.lock().await;
        let current = self.current()?;
        if current.identity.version != refused_version {
            return Some((current, true));
        }
        {
            let mut last = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|began| began >= at) {
                return Some((current, false));
            }
            *last = Some(Instant::now());
        }
        let _ = self.reload_locked().await;
        let now = self.current()?;
        let changed = now.identity.version != refused_version;
        Some((now, changed))
    }

    /// Waits, at most `wait`, for an identity other than `version`.
    pub(crate) async fn await_identity(
        &self,
        version: &str,
        wait: Duration,
    ) -> Option<Arc<Generation>> {
        let mut rx = self.subscribe();
        // Saturating: `await_rotation` may be as large as `Duration::MAX`.
        let now = tokio::time::Instant::now().into_std();
        let deadline = tokio::time::Instant::from_std(crate::time::saturating_add(now, wait));
        loop {
            if let Some(cur) = self.current().filter(|g| g.identity.version != version) {
                return Some(cur);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return None,
            }
        }
    }

    pub(crate) fn stats(&self) -> TlsStats {
        TlsStats {
            handshakes: self.resolver.get().map_or(0, |r| r.handshakes()),
            identity_rotations: self.rotations.load(Ordering::Relaxed),
            identity_rejections: self.rejections.load(Ordering::Relaxed),
            identity_errors: self.errors.load(Ordering::Relaxed),
            generations: self.generations.load(Ordering::Relaxed),
            trust_rotations: self.trust.get().map_or(0, |t| t.rotations()),
        }
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("source", &self.source_name)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}
