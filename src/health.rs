//! `Client::health`: whether the client has a fresh credential, is serving the last good one
//! while its source fails, or has no valid credential at all.

use std::sync::Mutex;
use std::time::SystemTime;

use crate::client::Client;

/// The state part of [`Health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthState {
    /// The last load of the source succeeded and the credential in use is valid.
    Fresh,
    /// The source is failing (see [`Health::failing_since`]) and requests use the last good
    /// credential, which is still valid: nothing is wrong for callers yet.
    Stale,
    /// No valid credential: never loaded (a lazily built client whose first load failed), the
    /// credential expired, or the server rejects it and the source has nothing newer.
    Failing,
}

/// A snapshot from [`Client::health`], for readiness probes and dashboards. Never holds a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Fresh, stale but serving, or failing.
    pub state: HealthState,
    /// The version of the credential requests use (`None` before the first load).
    pub credential_version: Option<String>,
    /// When the source last produced a valid credential.
    pub last_success: Option<SystemTime>,
    /// Since when every load has failed (`None` while the source is healthy).
    pub failing_since: Option<SystemTime>,
    /// The last load error (names the source and the cause, never a secret).
    pub last_error: Option<String>,
}

/// What the loads reported, kept by the client.
#[derive(Default)]
pub(crate) struct Tracker(Mutex<Loads>);

#[derive(Default, Clone)]
struct Loads {
    last_success: Option<SystemTime>,
    failing_since: Option<SystemTime>,
    last_error: Option<String>,
}

impl Tracker {
    pub(crate) fn succeeded(&self, now: SystemTime) {
        let mut loads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loads.last_success = Some(now);
        loads.failing_since = None;
    }

    pub(crate) fn failed(&self, err: &crate::Error, now: SystemTime) {
        let mut loads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loads.failing_since.get_or_insert(now);
        loads.last_error = Some(err.to_string());
    }
}

impl Client {
    /// Fresh, stale but serving, or failing — with since when and why. Cheap: no I/O.
    ///
    /// ```
    /// # async fn demo() -> Result<(), keyswap::Error> {
    /// use keyswap::{Client, HealthState, Source};
    /// let client = Client::builder().source(Source::fixed("k")).build().await?;
    /// assert_eq!(client.health().state, HealthState::Fresh);
    /// # Ok(()) }
    /// ```
    pub fn health(&self) -> Health {
        let shared = &self.shared;
        let loads = shared
            .health
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let loaded = shared.is_started();
        let current = shared.store.current();
        let usable = loaded && current.validate().is_ok() && !shared.store.active_rejected();
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
}
