//! `Health`: a snapshot of `keyswap::Client::health()` for Python.

use std::time::SystemTime;

use pyo3::prelude::*;

/// A snapshot from :meth:`Client.health`, for readiness probes and dashboards. Never holds a
/// key.
///
/// ``state`` is ``"fresh"`` (the last load succeeded, the credential is valid), ``"stale"``
/// (the source is failing, requests use the last good credential, which is still valid) or
/// ``"failing"`` (no valid credential: never loaded, expired, or rejected with nothing newer).
#[pyclass(frozen, eq, module = "keyswap")]
#[derive(PartialEq)]
pub struct Health {
    state: &'static str,
    credential_version: Option<String>,
    last_success: Option<f64>,
    failing_since: Option<f64>,
    last_error: Option<String>,
}

fn unix(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

impl From<keyswap::Health> for Health {
    fn from(h: keyswap::Health) -> Self {
        let state = match h.state {
            keyswap::HealthState::Fresh => "fresh",
            keyswap::HealthState::Stale => "stale",
            _ => "failing",
        };
        Health {
            state,
            credential_version: h.credential_version,
            last_success: unix(h.last_success),
            failing_since: unix(h.failing_since),
            last_error: h.last_error,
        }
    }
}

#[pymethods]
impl Health {
    /// ``"fresh"``, ``"stale"`` or ``"failing"``.
    #[getter]
    fn state(&self) -> &'static str {
        self.state
    }

    /// The version of the credential requests use (``None`` before the first load).
    #[getter]
    fn credential_version(&self) -> Option<&str> {
        self.credential_version.as_deref()
    }

    /// When the source last produced a valid credential (Unix seconds), or ``None``.
    #[getter]
    fn last_success(&self) -> Option<f64> {
        self.last_success
    }

    /// Since when every load has failed (Unix seconds); ``None`` while the source is healthy.
    #[getter]
    fn failing_since(&self) -> Option<f64> {
        self.failing_since
    }

    /// The last load error (names the source and the cause, never a secret), or ``None``.
    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether ``state`` is ``"fresh"`` or ``"stale"`` (requests have a valid credential).
    #[getter]
    fn ok(&self) -> bool {
        self.state != "failing"
    }

    fn __repr__(&self) -> String {
        format!(
            "Health(state={:?}, credential_version={}, failing_since={}, last_error={})",
            self.state,
            opt_repr(self.credential_version.as_deref()),
            self.failing_since
                .map_or_else(|| "None".to_owned(), |t| format!("{t:.3}")),
            opt_repr(self.last_error.as_deref()),
        )
    }
}

fn opt_repr(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_owned(), |s| format!("{s:?}"))
}
