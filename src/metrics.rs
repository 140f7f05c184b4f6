//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): plug any
//! exporter (Prometheus, OpenTelemetry, StatsD) into your program; keyswap only records.
//! Without the feature every method here compiles to nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `keyswap_requests_total` | counter | `source`, `version` (of the credential the request carried) |
//! | `keyswap_auth_failures_total` | counter | `source`, `version` (of the credential rejected) |
//! | `keyswap_refreshes_total` | counter | `source` |
//! | `keyswap_rotations_total` | counter | `source` |
//! | `keyswap_fallbacks_total` | counter | `source` |
//! | `keyswap_source_errors_total` | counter | `source` |
//! | `keyswap_credential_loaded_timestamp_seconds` | gauge | `source` (when the credential in use was installed) |
//! | `keyswap_last_successful_load_timestamp_seconds` | gauge | `source` |
//!
//! Ages are timestamps, Prometheus-style: `time() - keyswap_last_successful_load_timestamp_seconds`
//! is the seconds since the last successful load, with no background task to keep a gauge fresh.
//! `version` labels grow by one per rotation: old ones stop moving, which is how an operator
//! sees traffic leave the old key before revoking it.

use crate::credential::Credential;

pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    source: metrics::SharedString,
    #[cfg(feature = "metrics")]
    by_version: arc_swap::ArcSwapOption<ByVersion>,
}

#[cfg(feature = "metrics")]
struct ByVersion {
    fingerprint: u64,
    requests: metrics::Counter,
    rejections: metrics::Counter,
}

impl Metrics {
    pub(crate) fn new(source_name: &str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = source_name;
        Metrics {
            #[cfg(feature = "metrics")]
            source: metrics::SharedString::from(source_name.to_owned()),
            #[cfg(feature = "metrics")]
            by_version: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// A request carried `cred`: one atomic load and an increment of a registered handle
    /// (the registry is consulted only when the credential in use changes).
    #[inline]
    pub(crate) fn request(&self, cred: &Credential) {
        #[cfg(feature = "metrics")]
        self.with_version(cred, |v| v.requests.increment(1));
        #[cfg(not(feature = "metrics"))]
        let _ = cred;
    }

    /// The server rejected `cred`.
    pub(crate) fn rejected(&self, cred: &Credential) {
        #[cfg(feature = "metrics")]
        self.with_version(cred, |v| v.rejections.increment(1));
        #[cfg(not(feature = "metrics"))]
        let _ = cred;
    }

    #[cfg(feature = "metrics")]
    fn with_version(&self, cred: &Credential, f: impl FnOnce(&ByVersion)) {
        let current = self.by_version.load();
        if let Some(v) = current
            .as_deref()
            .filter(|v| v.fingerprint == cred.fingerprint())
        {
            return f(v);
        }
        let labels = [
            ("source", self.source.clone()),
            (
                "version",
                metrics::SharedString::from(cred.version().to_owned()),
            ),
        ];
        let fresh = std::sync::Arc::new(ByVersion {
            fingerprint: cred.fingerprint(),
            requests: metrics::counter!("keyswap_requests_total", &labels),
            rejections: metrics::counter!("keyswap_auth_failures_total", &labels),
        });
        f(&fresh);
        self.by_version.store(Some(fresh));
    }

    fn count(&self, name: &'static str) {
        #[cfg(feature = "metrics")]
        metrics::counter!(name, "source" => self.source.clone()).increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = name;
    }

    fn now(&self, name: &'static str) {
        #[cfg(feature = "metrics")]
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!(name, "source" => self.source.clone()).set(now);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = name;
    }

    pub(crate) fn refresh(&self) {
        self.count("keyswap_refreshes_total");
    }

    pub(crate) fn rotation(&self) {
        self.count("keyswap_rotations_total");
        self.now("keyswap_credential_loaded_timestamp_seconds");
    }

    pub(crate) fn fallback(&self) {
        self.count("keyswap_fallbacks_total");
    }

    pub(crate) fn source_error(&self) {
        self.count("keyswap_source_errors_total");
    }

    /// A load produced a valid credential (new or not).
    pub(crate) fn loaded(&self) {
        self.now("keyswap_last_successful_load_timestamp_seconds");
    }

    /// The first credential is in (its load was reported as any load is).
    pub(crate) fn started(&self) {
        self.now("keyswap_credential_loaded_timestamp_seconds");
    }
}
