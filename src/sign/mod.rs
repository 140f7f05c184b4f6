//! Exchange request signers: pure, per-attempt signing of a [`reqwest::Request`] with a
//! [`Credential`], plus the pieces every signer needs (a server-time [`Clock`], strictly
//! increasing [`Nonces`]) and a description of how each exchange reports a rejected credential
//! ([`Rejection`]).
//!
//! A [`Signer`] is called afresh on every attempt with a [`SignContext`]: it reads the current
//! (server-adjusted) time from [`SignContext::clock`] and, where the exchange wants one, a new
//! nonce from [`SignContext::nonces`]. Signing is idempotent: the parameters a signer adds are
//! replaced, never duplicated, when the same request is signed again.
//!
//! Signers shipped here: [`HmacSigner`], one HMAC engine that runs a recipe (what is signed,
//! encoded how, sent where; a [`Rejections`] table for what the API's answers mean), with the
//! exchange recipes [`HmacSigner::binance`], [`HmacSigner::bybit`] and [`HmacSigner::okx`];
//! [`KrakenSigner`] (a nonce in the form body and a hash inside the HMAC) and
//! [`CoinbaseSigner`] (ES256 JWT), which are code.
//!
//! Errors ([`SignError`]) name the signer and the cause; they never contain the key, the
//! secret, the passphrase or a signature.

use std::fmt;

use crate::Credential;

mod binance;
mod bybit;
mod clock;
mod coinbase;
mod hmac;
mod kraken;
mod nonce;
mod okx;
mod recipe;
mod rejections;
mod util;

pub use clock::{Clock, DEFAULT_CLOCK_SAMPLES};
pub use coinbase::CoinbaseSigner;
pub use hmac::HmacSigner;
pub use kraken::KrakenSigner;
pub use nonce::{NonceUnit, Nonces};
pub use recipe::{HashAlg, Part, SecretEncoding, SigEncoding, TimestampFormat};
pub use rejections::Rejections;

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

/// The unit of a server-time value in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeUnit {
    /// Seconds since the UNIX epoch.
    Seconds,
    /// Milliseconds since the UNIX epoch.
    Millis,
    /// Microseconds since the UNIX epoch.
    Micros,
    /// Nanoseconds since the UNIX epoch.
    Nanos,
}

/// An exchange's server-time endpoint: a `GET` of [`path`](TimeEndpoint::path), whose JSON body
/// holds the server time at [`pointer`](TimeEndpoint::pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEndpoint {
    /// The path (relative to the exchange's base URL), fetched with `GET` and no credential.
    pub path: &'static str,
    /// Where the time is in the JSON body: an RFC 6901 JSON pointer (`"/serverTime"`,
    /// `"/data/0/ts"`). The value may be a JSON number or a string holding a number.
    pub pointer: &'static str,
    /// The unit of the value.
    pub unit: TimeUnit,
}

impl TimeEndpoint {
    /// Reads the server time (UNIX milliseconds) from a response body; `None` when the body is
    /// not JSON or the value is missing or not a number. Out-of-range values saturate.
    pub fn parse(&self, body: &[u8]) -> Option<i64> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        match util::json_number(value.pointer(self.pointer)?)? {
            util::Num::Int(raw) => {
                let ms = match self.unit {
                    TimeUnit::Seconds => raw.saturating_mul(1_000),
                    TimeUnit::Millis => raw,
                    TimeUnit::Micros => raw.div_euclid(1_000),
                    TimeUnit::Nanos => raw.div_euclid(1_000_000),
                };
                Some(util::clamp_i64(ms))
            }
            util::Num::Float(raw) => {
                let ms = match self.unit {
                    TimeUnit::Seconds => raw * 1_000.0,
                    TimeUnit::Millis => raw,
                    TimeUnit::Micros => raw / 1_000.0,
                    TimeUnit::Nanos => raw / 1_000_000.0,
                };
                if ms.is_nan() {
                    return None;
                }
                // `as` saturates for floats (infinities included).
                Some(ms.floor() as i64)
            }
        }
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

/// Why a request could not be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignErrorKind {
    /// The credential has no secret, and the scheme needs one.
    #[error("the credential has no secret")]
    MissingSecret,
    /// The credential has no passphrase, and the scheme needs one.
    #[error("the credential has no passphrase")]
    MissingPassphrase,
    /// The secret has the wrong form for the scheme (the text says which).
    #[error("the secret is not {0}")]
    InvalidSecret(&'static str),
    /// The key (or passphrase) cannot be sent as the scheme requires (the text says why).
    #[error("{0}")]
    InvalidKey(&'static str),
    /// The request body is a stream: its bytes are not known before sending, so they cannot
    /// be signed.
    #[error("the request body is a stream and cannot be signed")]
    StreamingBody,
    /// The request cannot be signed as it is (the text says why).
    #[error("{0}")]
    InvalidRequest(&'static str),
}

/// A request could not be signed. The message names the signer and the cause
/// (`"binance: the credential has no secret"`) and never contains key, secret, passphrase or
/// signature: every cause is a fixed text.
#[derive(Clone, PartialEq, Eq)]
pub struct SignError {
    signer: String,
    kind: SignErrorKind,
}

impl SignError {
    /// An error of `signer` (its [`Signer::name`]) for `kind`.
    pub fn new(signer: impl Into<String>, kind: SignErrorKind) -> Self {
        SignError {
            signer: signer.into(),
            kind,
        }
    }

    /// The name of the signer that failed.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The cause.
    pub fn kind(&self) -> SignErrorKind {
        self.kind
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.signer, self.kind)
    }
}

impl fmt::Debug for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignError")
            .field("signer", &self.signer)
            .field("kind", &self.kind)
            .finish()
    }
}

impl std::error::Error for SignError {}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_status_maps_401_only() {
        assert_eq!(
            classify_status(http::StatusCode::UNAUTHORIZED),
            Rejection::Credential
        );
        assert_eq!(
            classify_status(http::StatusCode::FORBIDDEN),
            Rejection::None
        );
        assert_eq!(classify_status(http::StatusCode::OK), Rejection::None);
    }

    #[test]
    fn time_endpoint_parses_numbers_strings_and_units() {
        let ep = TimeEndpoint {
            path: "/t",
            pointer: "/data/0/ts",
            unit: TimeUnit::Millis,
        };
        assert_eq!(
            ep.parse(br#"{"code":"0","data":[{"ts":"1597026383085"}]}"#),
            Some(1_597_026_383_085)
        );
        let secs = TimeEndpoint {
            path: "/t",
            pointer: "/result/unixtime",
            unit: TimeUnit::Seconds,
        };
        assert_eq!(
            secs.parse(br#"{"error":[],"result":{"unixtime":1688669448,"rfc1123":"x"}}"#),
            Some(1_688_669_448_000)
        );
        let nanos = TimeEndpoint {
            path: "/t",
            pointer: "/n",
            unit: TimeUnit::Nanos,
        };
        assert_eq!(
            nanos.parse(br#"{"n":"1688639403423213947"}"#),
            Some(1_688_639_403_423)
        );
        assert_eq!(ep.parse(b"not json"), None);
        assert_eq!(ep.parse(br#"{"data":[{"ts":"abc"}]}"#), None);
        assert_eq!(ep.parse(br#"{"data":[]}"#), None);
        // Absurd values saturate instead of overflowing.
        assert_eq!(
            secs.parse(br#"{"result":{"unixtime":1e300}}"#),
            Some(i64::MAX)
        );
        assert_eq!(
            secs.parse(br#"{"result":{"unixtime":-1e300}}"#),
            Some(i64::MIN)
        );
    }

    #[test]
    fn signers_are_usable_as_shared_trait_objects() {
        use std::sync::Arc;
        let signers: Vec<Arc<dyn Signer>> = vec![
            Arc::new(HmacSigner::binance()),
            Arc::new(KrakenSigner::new()),
            Arc::new(CoinbaseSigner::new()),
            Arc::new(HmacSigner::okx()),
            Arc::new(HmacSigner::bybit()),
            Arc::new(HmacSigner::default()),
        ];
        let names: Vec<&str> = signers.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["binance", "kraken", "coinbase", "okx", "bybit", "hmac"]
        );
        let fx = testutil::Fixture::at(1_700_000_000_000);
        let cred = Credential::new("key")
            .with_secret("c2VjcmV0")
            .with_passphrase("p");
        for s in &signers {
            let mut req = testutil::request("POST", "https://api.example.com/x", Some(""));
            let result = s.sign(&mut req, &cred, &fx.ctx());
            if s.name() == "coinbase" {
                // Not a PEM key: a clean error, no panic.
                let e = result.expect_err("coinbase needs a PEM key");
                testutil::assert_no_leak(&e, &["c2VjcmV0"]);
            } else {
                result.expect("sign");
            }
            let _ = s.needs_body(http::StatusCode::OK, &http::HeaderMap::new());
            let _ = s.classify(http::StatusCode::OK, &http::HeaderMap::new(), Some(b"\xff"));
        }
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Clock>();
        assert_send_sync::<Nonces>();
        assert_send_sync::<SignError>();
    }

    #[test]
    fn sign_error_message_names_signer_and_cause() {
        let e = SignError::new("binance", SignErrorKind::MissingSecret);
        assert_eq!(e.to_string(), "binance: the credential has no secret");
        assert_eq!(e.signer(), "binance");
        assert_eq!(e.kind(), SignErrorKind::MissingSecret);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        assert!(boxed.to_string().starts_with("binance:"));
    }
}
