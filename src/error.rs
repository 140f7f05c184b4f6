//! One opaque error type with `is_*` predicates, in the manner of reqwest.
//!
//! Messages name the cause and, where one is involved, the source (`file:/run/secrets/api_key`,
//! `env:API_KEY`); they never contain key or secret material, and URLs are shown without their
//! query string (a query may carry the key when [`Auth::query`](crate::Auth::query) is used).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The error type of keyswap.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    context: String,
    cause: Option<BoxError>,
    retry_after: Option<Duration>,
    panicked: bool,
    /// The cause is the server's refusal of the client certificate.
    certificate_rejected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Builder,
    Source,
    Insecure,
    Request,
    Redirect,
    Sign,
}

/// `Result` with keyswap's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: Kind, context: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                context: context.into(),
                cause: None,
                retry_after: None,
                panicked: false,
                certificate_rejected: false,
            }),
        }
    }

    pub(crate) fn with_cause(mut self, cause: impl Into<BoxError>) -> Self {
        self.inner.cause = Some(cause.into());
        self
    }

    pub(crate) fn builder(context: impl Into<String>) -> Self {
        Error::new(Kind::Builder, context)
    }

    /// A source failed to produce a valid credential. `source` names the source, `why` says
    /// what was wrong; neither may contain secret material.
    pub fn source(source: &str, why: impl Into<String>) -> Self {
        Error::new(
            Kind::Source,
            format!("credential source {source}: {}", why.into()),
        )
    }

    pub(crate) fn request(err: reqwest::Error) -> Self {
        Error::new(Kind::Request, "HTTP request failed").with_cause(redact_reqwest(err))
    }

    /// Marks a source error as "the endpoint asked to be left alone for `after`" (an HTTP
    /// `Retry-After` on 429/503). The background refresh then waits at least that long
    /// before loading the source again, instead of its usual backoff.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// Marks an error whose cause is the server's refusal of the client certificate.
    pub(crate) fn certificate_rejected(mut self) -> Self {
        self.inner.certificate_rejected = true;
        self
    }

    /// Marks the error as a caught panic (counted in `Stats::background_failures`).
    pub(crate) fn panicked(mut self) -> Self {
        self.inner.panicked = true;
        self
    }

    pub(crate) fn is_panic(&self) -> bool {
        self.inner.panicked
    }

    /// How long the source asked callers to wait before trying again, if it said
    /// (see [`Error::with_retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The configuration given to the builder is invalid.
    pub fn is_builder(&self) -> bool {
        self.inner.kind == Kind::Builder
    }

    /// A credential source could not produce a valid credential (missing file or variable,
    /// unparsable content, I/O or endpoint error).
    pub fn is_source(&self) -> bool {
        self.inner.kind == Kind::Source
    }

    /// The request was refused because it would send a credential over plain `http://` to a
    /// host that is not loopback (see [`ClientBuilder::allow_insecure_http`](crate::ClientBuilder::allow_insecure_http)).
    pub fn is_insecure(&self) -> bool {
        self.inner.kind == Kind::Insecure
    }

    /// The HTTP exchange itself failed (connect, TLS, timeout, body). See [`Error::is_timeout`].
    pub fn is_request(&self) -> bool {
        self.inner.kind == Kind::Request
    }

    /// A redirect could not be followed (too many hops, bad `Location`).
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == Kind::Redirect
    }

    /// A custom signer failed to sign the request.
    pub fn is_sign(&self) -> bool {
        self.inner.kind == Kind::Sign
    }

    /// The server refused the client certificate (a TLS alert such as `certificate_revoked`),
    /// and a refreshed identity did not help. See [`ClientBuilder::identity`](crate::ClientBuilder::identity).
    pub fn is_certificate_rejected(&self) -> bool {
        self.inner.certificate_rejected
    }

    /// The request timed out.
    pub fn is_timeout(&self) -> bool {
        self.reqwest().is_some_and(|e| e.is_timeout())
    }

    /// The connection could not be established.
    pub fn is_connect(&self) -> bool {
        self.reqwest().is_some_and(|e| e.is_connect())
    }

    /// The transport error inside, if this is one (for skins that hand errors on).
    #[cfg_attr(not(feature = "middleware"), allow(dead_code))]
    pub(crate) fn into_reqwest(self) -> std::result::Result<reqwest::Error, Self> {
        if self.inner.kind != Kind::Request
            || self
                .inner
                .cause
                .as_ref()
                .is_none_or(|c| !c.is::<reqwest::Error>())
        {
            return Err(self);
        }
        let mut inner = self.inner;
        match inner.cause.take().map(|c| c.downcast::<reqwest::Error>()) {
            Some(Ok(err)) => Ok(*err),
            Some(Err(cause)) => {
                inner.cause = Some(cause);
                Err(Error { inner })
            }
            None => Err(Error { inner }),
        }
    }

    fn reqwest(&self) -> Option<&reqwest::Error> {
        self.inner.cause.as_ref()?.downcast_ref::<reqwest::Error>()
    }
}

/// Removes the query string from the URL a reqwest error carries: with query-parameter auth
/// it would hold the key.
pub(crate) fn redact_reqwest(mut err: reqwest::Error) -> reqwest::Error {
    if let Some(url) = err.url_mut() {
        url.set_query(None);
        url.set_fragment(None);
        let _ = url.set_password(None);
    }
    err
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("keyswap::Error");
        d.field("kind", &self.inner.kind);
        d.field("context", &self.inner.context);
        if let Some(after) = &self.inner.retry_after {
            d.field("retry_after", after);
        }
        if let Some(cause) = &self.inner.cause {
            d.field("cause", cause);
        }
        d.finish()
    }
}

/// The error's own message, without its cause: the cause is [`source()`](StdError::source),
/// and reporters that walk the chain (anyhow, eyre, tracing's error fields) print each level
/// once. (As reqwest does.) `{:#}` (alternate) appends the whole chain, for a one-line log.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.context)?;
        if f.alternate() {
            let mut cause = self.source();
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Error::request(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner(&'static str, Option<Box<Inner>>);

    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Inner {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn display_does_not_repeat_the_source_and_alternate_shows_the_chain() {
        let err = Error::new(Kind::Request, "HTTP request failed").with_cause(Inner(
            "connect error",
            Some(Box::new(Inner("refused", None))),
        ));
        assert_eq!(err.to_string(), "HTTP request failed");
        assert_eq!(err.source().unwrap().to_string(), "connect error");
        // A reporter walking the chain prints each level once.
        let mut chain = vec![err.to_string()];
        let mut cause = err.source();
        while let Some(c) = cause {
            chain.push(c.to_string());
            cause = c.source();
        }
        assert_eq!(chain, ["HTTP request failed", "connect error", "refused"]);
        assert_eq!(
            format!("{err:#}"),
            "HTTP request failed: connect error: refused"
        );
    }
}
