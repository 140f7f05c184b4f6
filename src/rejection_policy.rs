//! [`RejectionPolicy`]: which answers mean "the credential was rejected" and start the recover
//! path (refresh, retry, fallback, bounded wait). An exchange signer brings its own rules on
//! top (see [`Auth::signer`](crate::Auth::signer)).

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

use crate::error::{Error, Result};
use crate::sign::Rejection;

pub(crate) type ResponsePredicate = Arc<dyn Fn(&Response) -> bool + Send + Sync>;
pub(crate) type BodyRule = Arc<dyn Fn(StatusCode, &HeaderMap, &[u8]) -> Rejection + Send + Sync>;

/// What counts as a rejected credential, given to
/// [`ClientBuilder::rejection_policy`](crate::ClientBuilder::rejection_policy): a set of
/// statuses, optionally a test on status and headers, optionally a test on the body.
/// Default: 401 alone ([`DEFAULT_STATUSES`](Self::DEFAULT_STATUSES)); with a client
/// certificate and no policy given, 401 and 403.
///
/// A gRPC trailers-only answer counts as the HTTP status its code stands for
/// (`UNAUTHENTICATED` as 401, `PERMISSION_DENIED` as 403), so the statuses decide for gRPC too.
///
/// ```
/// use keyswap::{Client, RejectionPolicy, Rejection, Source};
/// let builder = Client::builder().source(Source::env("API_KEY")).rejection_policy(
///     RejectionPolicy::statuses(&[401, 403])?
///         // A gateway that answers 400 with an error code for a bad key.
///         .or_when(|resp| resp.headers().get("x-error-code").is_some_and(|v| v == "-2015"))
///         // An API that says so in a JSON body.
///         .or_body(|_status, _headers, body| {
///             if body.windows(11).any(|w| w == b"invalid key") {
///                 Rejection::Credential
///             } else {
///                 Rejection::None
///             }
///         }),
/// );
/// # drop(builder);
/// # Ok::<(), keyswap::Error>(())
/// ```
#[derive(Clone)]
pub struct RejectionPolicy {
    pub(crate) statuses: Vec<StatusCode>,
    pub(crate) predicate: Option<ResponsePredicate>,
    pub(crate) body_rule: Option<BodyRule>,
}

impl RejectionPolicy {
    /// The statuses of the default policy: 401 Unauthorized.
    pub const DEFAULT_STATUSES: &[u16] = &[401];

    /// A policy that counts exactly these statuses as rejections (add 403 for APIs that use
    /// it). Fails, naming the code, on a number that is not an HTTP status (100–599, as
    /// RFC 9110 defines them).
    pub fn statuses(codes: &[u16]) -> Result<Self> {
        let statuses = codes
            .iter()
            .map(|&code| {
                StatusCode::from_u16(code)
                    .ok()
                    .filter(|_| (100..=599).contains(&code))
                    .ok_or_else(|| {
                        Error::builder(format!("rejection policy: {code} is not an HTTP status"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RejectionPolicy::of(statuses))
    }

    /// Exactly these statuses, no predicate, no body rule.
    fn of(statuses: Vec<StatusCode>) -> Self {
        RejectionPolicy {
            statuses,
            predicate: None,
            body_rule: None,
        }
    }

    /// Also counts as a rejection any answer `predicate` accepts, judging by status and
    /// headers (an API that answers 400 or 200 with an auth error marker). Replaces a
    /// predicate set before.
    pub fn or_when<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Response) -> bool + Send + Sync + 'static,
    {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// A test on the response body, for APIs that say in the body what kind of rejection it is
    /// (an HTTP 200 with an error array, a 400 with an error code). Bodies that are JSON, text
    /// or untyped and at most 64 KiB are read for it, and handed back unchanged: the response
    /// you get reads exactly as the server sent it. Return [`Rejection::Credential`] to start
    /// the recover path, [`Rejection::Timestamp`] or [`Rejection::Nonce`] to have the request
    /// signed again and retried once, and [`Rejection::None`] otherwise. Replaces a rule set
    /// before. Without one, status and headers decide and no body is read.
    pub fn or_body<F>(mut self, rule: F) -> Self
    where
        F: Fn(StatusCode, &HeaderMap, &[u8]) -> Rejection + Send + Sync + 'static,
    {
        self.body_rule = Some(Arc::new(rule));
        self
    }

    /// The default with a client certificate: a server that checks the certificate after the
    /// handshake answers 401 or 403.
    pub(crate) fn for_identity() -> Self {
        RejectionPolicy::of(vec![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN])
    }
}

impl Default for RejectionPolicy {
    /// [`DEFAULT_STATUSES`](Self::DEFAULT_STATUSES), no predicate, no body rule.
    fn default() -> Self {
        let statuses = Self::DEFAULT_STATUSES
            .iter()
            .filter_map(|&code| StatusCode::from_u16(code).ok())
            .collect();
        RejectionPolicy::of(statuses)
    }
}

impl fmt::Debug for RejectionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectionPolicy")
            .field("statuses", &self.statuses)
            .field("or_when", &self.predicate.is_some())
            .field("or_body", &self.body_rule.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_http_are_refused_naming_the_code() {
        assert!(RejectionPolicy::statuses(&[401, 403, 599, 100]).is_ok());
        for bad in [0, 99, 600, 999, 1000] {
            let err = RejectionPolicy::statuses(&[401, bad]).unwrap_err();
            assert!(err.is_builder());
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
    }

    #[test]
    fn the_default_is_its_documented_statuses_alone() {
        let default = RejectionPolicy::default();
        let codes: Vec<u16> = default.statuses.iter().map(|s| s.as_u16()).collect();
        assert_eq!(codes, RejectionPolicy::DEFAULT_STATUSES);
        assert!(default.predicate.is_none() && default.body_rule.is_none());
    }
}
