//! The mandatory refresh window of a short-lived credential (an OAuth2 access token): the one
//! place the request path waits for a renewal, and the clear error once the credential has
//! expired and no new one can be had. The advisory window is the driver's (it renews in the
//! background); see [`RefreshWindows`](crate::RefreshWindows).

use crate::client::Shared;
use crate::error::{Error, Result};

impl Shared {
    /// Whether the credential in use is inside its mandatory window: one atomic load, and a
    /// clock read only for credentials that have windows.
    #[inline]
    pub(crate) fn must_renew_first(&self) -> bool {
        self.store
            .load()
            .refresh_windows()
            .is_some_and(|w| self.time.system_time() >= w.mandatory)
    }

    /// Renews before sending. Every caller that sees the window loads the source; the source
    /// answers them all from one renewal (the OAuth2 source keeps one token request in flight
    /// and hands its token to everyone queued behind it). A failed renewal leaves the current
    /// credential in use while it is still valid; once it has expired, the request fails here
    /// with the cause instead of going out with a token the server will refuse.
    pub(crate) async fn renew_before_send(&self) -> Result<()> {
        if !self.must_renew_first() {
            return Ok(());
        }
        let failure = match self.load_valid(None).await {
            Ok(cred) => self.accept(Ok(cred)).err(),
            Err(err) => Some(err),
        };
        let current = self.store.current();
        let expired = current
            .expires_at()
            .is_some_and(|at| self.time.system_time() >= at);
        match (failure, expired) {
            (None, false) => Ok(()),
            // Still valid: go on with it. Counted and logged once per request would flood the
            // log while the endpoint is down; the background renewal reports the failure.
            (Some(err), false) => {
                tracing::debug!(source = %self.source_name, error = %err, "renewal failed; the credential is still valid");
                Ok(())
            }
            (failure, true) => {
                let why = match failure {
                    Some(err) => {
                        self.load_failed(&err);
                        let shown = err.to_string();
                        let prefix = format!("credential source {}: ", self.source_name);
                        let cause = shown.strip_prefix(&prefix).unwrap_or(&shown).to_owned();
                        format!("the credential has expired and renewing it failed: {cause}")
                    }
                    None => {
                        "the credential has expired and the source returned no newer one".to_owned()
                    }
                };
                Err(Error::source(&self.source_name, why))
            }
        }
    }
}
