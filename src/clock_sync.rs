//! The server-time offset of a signing client: learned from the exchange's time endpoint
//! when the client starts (or, without a base URL, from the origin of the first request),
//! kept up to date from `Date` headers, and re-learned when the exchange rejects a timestamp.

use std::time::{Duration, SystemTime};

use reqwest::Url;

use crate::client::Shared;
use crate::response::{MAX_CLASSIFIED_BODY, buffered};

/// The bound on one request to a time endpoint.
const TIME_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Shared {
    /// Learns the offset from the signer's time endpoint at the origin of `at` (any URL of the
    /// exchange); failures are logged and leave the clock as it is (the `Date` headers and a
    /// timestamp rejection still correct it). Returns whether a sample was taken.
    pub(crate) async fn learn_clock(&self, at: &Url, reset: bool) -> bool {
        let Some(endpoint) = self.auth.as_signer().and_then(|s| s.time_endpoint()) else {
            return false;
        };
        let mut origin = at.clone();
        origin.set_path("/");
        origin.set_query(None);
        let Ok(url) = origin.join(endpoint.path) else {
            return false;
        };
        let sent = SystemTime::now();
        let resp = match self
            .http
            .get(url)
            .timeout(TIME_REQUEST_TIMEOUT)
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => resp,
            Ok(resp) => {
                tracing::warn!(
                    status = resp.status().as_u16(),
                    "server time endpoint refused; clock offset unchanged"
                );
                return false;
            }
            Err(err) => {
                tracing::warn!(error = %crate::error::redact_reqwest(err), "server time endpoint unreachable; clock offset unchanged");
                return false;
            }
        };
        let (_, body) = buffered(resp, MAX_CLASSIFIED_BODY).await;
        let received = SystemTime::now();
        let Some(server_ms) = body.as_deref().and_then(|b| endpoint.parse(b)) else {
            tracing::warn!(
                "server time endpoint answered without a readable time; clock offset unchanged"
            );
            return false;
        };
        let offset = if reset {
            self.clock.reset_to(server_ms, sent, received)
        } else {
            self.clock.record_sample(server_ms, sent, received)
        };
        tracing::info!(offset_ms = offset, "server clock offset learned");
        true
    }

    /// Whether [`clock_ready`](Self::clock_ready) has work to do (a signing client that syncs
    /// its clock and has not learned it yet): checked without creating its future.
    #[inline]
    pub(crate) fn clock_pending(&self) -> bool {
        self.classifier.signer.is_some() && self.sync_clock && !self.clock_learned.initialized()
    }

    /// Before the first signed request without a base URL: learn the clock from its origin,
    /// once (concurrent first requests wait for the same lookup).
    pub(crate) async fn clock_ready(&self, url: &Url) {
        if !self.clock_pending() {
            return;
        }
        self.clock_learned
            .get_or_init(|| async {
                self.learn_clock(url, false).await;
            })
            .await;
    }
}
