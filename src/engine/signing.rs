//! [`Signing`]: what an exchange signer signs with (server time, nonces), kept by the engine.

use std::time::SystemTime;

use reqwest::Response;
use reqwest::header::DATE;

use crate::sign::{Clock, Nonces, SignContext};

/// What an exchange signer signs with, shared by every clone of the client: the server time
/// (corrected from the exchange) and nonces (strictly increasing across clones and threads).
pub(crate) struct Signing {
    pub(super) clock: Clock,
    nonces: Nonces,
    /// The wall clock the samples are taken against (the client's).
    pub(super) host: std::sync::Arc<dyn crate::time::TimeSource>,
    /// Whether the clock is learned from the signer's time endpoint.
    pub(super) sync: bool,
    pub(super) learned: tokio::sync::OnceCell<()>,
}

impl Signing {
    /// Server time and nonces read `time`'s clock: an injected one moves signers' timestamps.
    pub(crate) fn new(sync: bool, time: &crate::time::Time) -> Self {
        Signing {
            clock: Clock::with_time_source(time.clock()),
            nonces: Nonces::with_time_source(time.clock()),
            host: time.clock(),
            sync,
            learned: tokio::sync::OnceCell::new(),
        }
    }

    /// What a signer reads to sign one request.
    pub(super) fn context(&self) -> SignContext<'_> {
        SignContext::new(&self.clock, &self.nonces)
    }

    /// Records an answer's `Date` header, for an attempt sent at `sent`.
    pub(super) fn record_date(&self, resp: &Response, sent: SystemTime) {
        if let Some(date) = resp.headers().get(DATE) {
            self.clock
                .record_date_header(date, sent, self.host.system_time());
        }
    }
}
