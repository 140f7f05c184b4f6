//! [`Client::health`](crate::Client::health): whether the client has a fresh credential, is
//! serving the last good one while its source fails, or has no valid credential at all.

use std::sync::Mutex;
use std::time::SystemTime;

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

/// A snapshot from [`Client::health`](crate::Client::health), for readiness probes and dashboards. Never holds a key.
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

/// What the loads reported, as [`Health`] shows it.
#[derive(Default, Clone)]
pub(crate) struct Loads {
    pub(crate) last_success: Option<SystemTime>,
    pub(crate) failing_since: Option<SystemTime>,
    pub(crate) last_error: Option<String>,
}

impl Tracker {
    pub(crate) fn snapshot(&self) -> Loads {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

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
