//! The [`Signer`] trait and what every signer shares: the [`SignContext`] it signs with, the
//! [`Rejection`] verdicts it reads in answers, time endpoints, and [`SignError`].

use super::clock::Clock;
use super::error::SignError;
use super::nonce::Nonces;
use super::time_endpoint::TimeEndpoint;
use crate::Credential;

/// Signs requests for one exchange (or one signing scheme).
///
/// Implementations are pure: everything time- or nonce-dependent comes from the
/// [`SignContext`], so a signer can be tested with a fixed clock.
pub trait Signer: Send + Sync + 'static {
    /// Short name for errors and logs (`"binance"`).
    fn name(&self) -> &str;

    /// Signs one attempt in place (headers, query, body as the exchange wants). Called afresh
    /// on every attempt: a new timestamp from `ctx.clock`, a new nonce from `ctx.nonces`.
    /// Signing the same request twice replaces what the first signing added.
    fn sign(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        ctx: &SignContext<'_>,
    ) -> Result<(), SignError>;

    /// Whether the response with this status and these headers may carry a rejection in its
    /// body, and must be read (bounded) to classify it. Default: `false`.
    fn needs_body(&self, status: http::StatusCode, headers: &http::HeaderMap) -> bool {
        let _ = (status, headers);
        false
    }

    /// How the exchange reports rejections. `body` is `Some` only when
    /// [`needs_body`](Signer::needs_body) said yes (and the body could be read).
    fn classify(
        &self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
        body: Option<&[u8]>,
    ) -> Rejection;

    /// The exchange's server-time endpoint, if it has one.
    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        None
    }
}

/// What a response says about the request's credentials, timestamp or nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a rejection this crate acts on (success, or another kind of error).
    None,
    /// The credential was rejected (invalid, revoked, expired key; wrong secret or passphrase).
    Credential,
    /// The timestamp was outside the exchange's window: re-learn the server time and re-sign.
    Timestamp,
    /// The nonce was not accepted (not increasing): re-sign with a new nonce.
    Nonce,
}

/// The default classification: HTTP 401 means [`Rejection::Credential`], anything else
/// [`Rejection::None`].
pub fn classify_status(status: http::StatusCode) -> Rejection {
    if status == http::StatusCode::UNAUTHORIZED {
        Rejection::Credential
    } else {
        Rejection::None
    }
}

/// What a signer gets for one attempt: the client's server-time clock and nonce source.
#[derive(Debug, Clone, Copy)]
pub struct SignContext<'a> {
    /// Host time corrected by the learned server-time offset.
    pub clock: &'a Clock,
    /// Strictly increasing nonces, shared by all clones of a client.
    pub nonces: &'a Nonces,
}

impl<'a> SignContext<'a> {
    /// A context over a clock and a nonce source.
    pub fn new(clock: &'a Clock, nonces: &'a Nonces) -> Self {
        SignContext { clock, nonces }
    }
}
