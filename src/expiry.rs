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
        let failure = self.accept(self.load_valid(None).await).err();
        let current = self.store.current();
        let expired = current
            .expires_at()
            .is_some_and(|at| self.time.system_time() >= at);
        if !expired {
            return Ok(());
        }
        let why = match failure {
            Some(err) => format!("the credential has expired and renewing it failed: {err}"),
            None => "the credential has expired and the source returned no newer one".to_owned(),
        };
        let err = Error::source(&self.source_name, why);
        Err(err)
    }
}
