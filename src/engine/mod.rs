//! The engine: the rotation state a client owns (store, refresher, source, time, health,
//! metrics) and the attempt pipeline every request goes through. [`Client`](crate::Client),
//! [`Middleware`](crate::Middleware), the tower layer and the Python bindings are skins over
//! it: they build requests and hand them to [`Engine::execute`].
//!
//! The walk of a request reads in one direction, a file per step:
//! skin → [`Engine::execute`] (here) → `attempt.rs` (the loop) → `attach.rs` → `classify.rs`
//! (send, then classify) → `recover.rs` (what to retry with: `refresh.rs` for a new load,
//! `load.rs` to read the source) → `retry.rs` → `redirect.rs`. With a client certificate,
//! `recover_identity.rs` runs first. Off the request path: `lifecycle.rs` (the first load,
//! the watch, forks), `driver.rs` (the watch itself), `renewal.rs` (the mandatory window of a
//! short-lived credential), `clock_sync.rs` (an exchange signer's server time).
//!
//! Each step is a set of functions over `&Engine`: the engine's fields are private to this
//! module and its steps, and the types with state of their own ([`Refresher`], [`Renewal`],
//! [`Signing`], [`Watch`]) keep their `impl`s in the file that defines them.

mod attach;
mod attempt;
mod classify;
mod clock_sync;
mod driver;
mod lifecycle;
mod load;
mod recover;
mod recover_identity;
mod redirect;
mod refresh;
mod renewal;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use reqwest::{Request, Response, Url};
use tracing::Instrument;

use crate::auth::Auth;
use crate::classify::Classifier;
use crate::error::Result;
use crate::health::{Health, HealthState};
use crate::scope::{Scope, display_url};
use crate::source::Source;
use crate::stats::Counters;
use crate::store::Store;
use crate::time::Time;
use crate::transport::Transport;

pub(crate) use clock_sync::Signing;
pub(crate) use lifecycle::Watch;
pub(crate) use refresh::Refresher;
pub(crate) use renewal::Renewal;

/// What an engine is built from (the builder's settings, checked).
pub(crate) struct Parts {
    pub(crate) http: reqwest::Client,
    pub(crate) store: Store,
    pub(crate) source: Source,
    pub(crate) auth: Auth,
    pub(crate) scope: Scope,
    pub(crate) base_url: Option<Url>,
    pub(crate) classifier: Classifier,
    pub(crate) sync_clock: bool,
    pub(crate) await_rotation: Duration,
    pub(crate) load_timeout: Duration,
    pub(crate) max_redirects: usize,
    pub(crate) time: Time,
    pub(crate) tls: Option<Arc<crate::tls::Tls>>,
}

/// Aligned to 128 bytes so that in the `Arc` it starts on its own cache lines, apart from the
/// reference counts: every request clones the `Client` (its builder holds one) from whatever
/// thread it runs on, and the fields every request reads should not move between cores with
/// each of those writes.
#[repr(align(128))]
pub(crate) struct Engine {
    http: reqwest::Client,
    store: Store,
    source: Source,
    source_name: String,
    auth: Auth,
    scope: Scope,
    base_url: Option<Url>,
    classifier: Classifier,
    /// An exchange signer's server time and nonces.
    signing: Signing,
    refresher: Refresher,
    /// The mandatory-window renewal's gate (see `renewal.rs`).
    renewal: Renewal,
    /// Held while one request tries a previous credential the server has not accepted yet
    /// (see `recover.rs`).
    fallback_gate: tokio::sync::Mutex<()>,
    load_timeout: Duration,
    max_redirects: usize,
    counters: Counters,
    health: crate::health::Tracker,
    metrics: crate::metrics::Metrics,
    /// Set once the first credential is loaded and the watch started (see `lifecycle.rs`).
    started: tokio::sync::OnceCell<()>,
    /// The background watch, and the process it runs in (see `lifecycle.rs`).
    watch: Watch,
    /// The clock and sleep of every timing decision (see [`crate::time`]).
    time: Time,
    /// The TLS identity (mTLS), when one is configured: requests then go through its
    /// generation's `reqwest::Client` instead of `http` (see `tls/`).
    tls: Option<Arc<crate::tls::Tls>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.watch.stop();
    }
}

impl Engine {
    pub(crate) fn new(parts: Parts) -> Arc<Self> {
        let source_name = parts.source.name();
        Arc::new(Engine {
            http: parts.http,
            store: parts.store,
            metrics: crate::metrics::Metrics::new(&source_name),
            source: parts.source,
            source_name,
            auth: parts.auth,
            scope: parts.scope,
            base_url: parts.base_url,
            classifier: parts.classifier,
            signing: Signing::new(parts.sync_clock, &parts.time),
            refresher: Refresher::new(parts.await_rotation, parts.time.clone()),
            renewal: Renewal::default(),
            fallback_gate: tokio::sync::Mutex::new(()),
            load_timeout: parts.load_timeout,
            max_redirects: parts.max_redirects,
            counters: Counters::default(),
            health: Default::default(),
            started: tokio::sync::OnceCell::new(),
            watch: Watch::default(),
            time: parts.time,
            tls: parts.tls,
        })
    }

    /// Sends `request` through `transport` with the credential, the recover path and redirect
    /// handling: the one entry of every skin. A lazily built client (or one in a forked child)
    /// starts first. `max_redirects`: the request's own redirect limit, `None` for the
    /// client's.
    pub(crate) fn execute<'a, T: Transport>(
        self: &'a Arc<Self>,
        transport: &'a T,
        request: Request,
        max_redirects: Option<usize>,
    ) -> impl Future<Output = Result<Response>> + Send + 'a {
        let span = request_span(&request);
        // A lazily built client loads its first credential on first use (boxed: once per client).
        let sent = if lifecycle::is_ready_here(self) {
            Either::Left(redirect::execute(self, transport, request, max_redirects))
        } else {
            Either::Right(Box::pin(async move {
                lifecycle::start(self).await?;
                redirect::execute(self, transport, request, max_redirects).await
            }))
        };
        sent.instrument(span)
    }

    /// [`execute`](Self::execute) through the engine's own transport: its `reqwest::Client`, or
    /// with a TLS identity, the identity's current generation.
    pub(crate) fn execute_own(
        self: &Arc<Self>,
        request: Request,
        max_redirects: Option<usize>,
    ) -> impl Future<Output = Result<Response>> + Send + '_ {
        match &self.tls {
            Some(tls) => Either::Left(self.execute(&**tls, request, max_redirects)),
            None => Either::Right(self.execute(&self.http, request, max_redirects)),
        }
    }

    /// Loads the first credential and starts the watch, once (see `lifecycle.rs`).
    pub(crate) async fn ready(self: &Arc<Self>) -> Result<()> {
        lifecycle::start(self).await
    }

    /// Re-loads the source now, serialized with the refresh path; returns the version in use
    /// afterwards. A client not started yet starts instead.
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<String> {
        if !lifecycle::is_ready_here(self) {
            let started = lifecycle::is_started(self);
            lifecycle::start(self).await?;
            if !started {
                return Ok(self.credential_version());
            }
        }
        refresh::refresh_now(self).await?;
        Ok(self.credential_version())
    }

    /// The version of the credential requests use now.
    pub(crate) fn credential_version(&self) -> String {
        self.store.current().version().to_owned()
    }

    /// Fresh, stale but serving, or failing (no I/O).
    pub(crate) fn health(&self) -> Health {
        let loads = self.health.snapshot();
        let loaded = lifecycle::is_started(self);
        let current = self.store.current();
        let usable = loaded && current.validate().is_ok() && !self.store.active_rejected();
        let state = match (usable, loads.failing_since) {
            (false, _) => HealthState::Failing,
            (true, Some(_)) => HealthState::Stale,
            (true, None) => HealthState::Fresh,
        };
        Health {
            state,
            credential_version: loaded.then(|| current.version().to_owned()),
            last_success: loads.last_success,
            failing_since: loads.failing_since,
            last_error: loads.last_error,
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn tls(&self) -> Option<&Arc<crate::tls::Tls>> {
        self.tls.as_ref()
    }

    pub(crate) fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub(crate) fn source_name(&self) -> &str {
        &self.source_name
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn base_url(&self) -> Option<&Url> {
        self.base_url.as_ref()
    }

    pub(crate) fn auth(&self) -> &Auth {
        &self.auth
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

/// The span every request runs in (its fields are only evaluated when the span is enabled).
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "keyswap.request",
        method = %request.method(),
        url = %display_url(request.url()),
    )
}
