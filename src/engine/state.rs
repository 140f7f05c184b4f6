//! [`Engine`]: what every clone of a client shares — its rotation state (store, refresher,
//! source, time, health, metrics) and the settings of its attempt pipeline — and the small
//! pieces of state the steps keep in it. The steps (the other files of `engine/`) are
//! functions over `&Engine`; this file depends on none of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;

use super::signing::Signing;
use super::watch::Watch;
use crate::auth::Auth;
use crate::classify::Classifier;
use crate::scope::Scope;
use crate::single_flight::SingleFlight;
use crate::source::Source;
use crate::stats::Counters;
use crate::store::Store;
use crate::time::Time;

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
    pub(super) http: reqwest::Client,
    pub(super) store: Store,
    pub(super) source: Source,
    pub(super) source_name: String,
    pub(super) auth: Auth,
    pub(super) scope: Scope,
    pub(super) base_url: Option<Url>,
    pub(super) classifier: Classifier,
    /// An exchange signer's server time and nonces.
    pub(super) signing: Signing,
    pub(super) refresher: Refresher,
    /// The mandatory-window renewal's gate (see `renewal.rs`).
    pub(super) renewal: Renewal,
    /// Held while one request tries a previous credential the server has not accepted yet
    /// (see `recover.rs`).
    pub(super) fallback_gate: tokio::sync::Mutex<()>,
    pub(super) load_timeout: Duration,
    pub(super) max_redirects: usize,
    pub(super) counters: Counters,
    pub(super) health: crate::health::Tracker,
    pub(super) metrics: crate::metrics::Metrics,
    /// Set once the first credential is loaded and the watch started (see `lifecycle.rs`).
    pub(super) started: tokio::sync::OnceCell<()>,
    /// The background watch, and the process it runs in (see `lifecycle.rs`).
    pub(super) watch: Watch,
    /// The clock and sleep of every timing decision (see [`crate::time`]).
    pub(super) time: Time,
    /// The TLS identity (mTLS), when one is configured: requests then go through its
    /// generation's `reqwest::Client` instead of `http` (see `tls/`).
    pub(super) tls: Option<Arc<crate::tls::Tls>>,
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

    /// The version of the credential requests use now.
    pub(crate) fn credential_version(&self) -> String {
        self.store.current().version().to_owned()
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

/// The single flight of a client's loads, and how long a rejected credential may wait for
/// the source to deliver another.
pub(crate) struct Refresher {
    pub(super) flight: SingleFlight<()>,
    pub(super) await_rotation: Duration,
}

impl Refresher {
    pub(crate) fn new(await_rotation: Duration, time: Time) -> Self {
        Refresher {
            flight: SingleFlight::new(time),
            await_rotation,
        }
    }
}

/// One renewal at a time per client, and the last failure (when, and its message: never a
/// secret, as every source error).
#[derive(Default)]
pub(crate) struct Renewal {
    pub(super) last_failure: tokio::sync::Mutex<Option<(Instant, String)>>,
}
