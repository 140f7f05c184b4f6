//! Where the credential goes on a request: a header, a bearer token, a query parameter, basic
//! auth, or a signer of your own.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::credential::Credential;
use crate::error::{Error, Kind, Result};
use crate::sign::{SignContext, Signer};

mod parse;

type SignFn = dyn Fn(&mut reqwest::Request, &Credential) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
    + Send
    + Sync;

/// How a credential is attached to a request. Applied again on every attempt, so a retry after
/// a rotation carries the new key and a fresh signature (nonce, timestamp).
#[derive(Clone)]
pub struct Auth(Placement);

#[derive(Clone)]
enum Placement {
    None,
    Header(HeaderName),
    Bearer,
    Query(String),
    Basic(String),
    Sign(Arc<SignFn>),
    Signer(Arc<dyn Signer>),
}

impl Auth {
    /// The key as the value of header `name` (e.g. `X-API-Key`).
    ///
    /// # Panics
    /// If `name` is not a valid header name: it is a constant of your program, so a typo
    /// should fail at once.
    pub fn header(name: &str) -> Auth {
        Auth::try_header(name).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`header`](Self::header) for a name that comes from input (configuration, another
    /// language): an error ([`Error::is_builder`]) instead of a panic when it is not a valid
    /// header name.
    ///
    /// ```
    /// assert!(keyswap::Auth::try_header("X-API-Key").is_ok());
    /// assert!(keyswap::Auth::try_header("X API Key").unwrap_err().is_builder());
    /// ```
    pub fn try_header(name: &str) -> Result<Auth> {
        HeaderName::from_bytes(name.as_bytes())
            .map(|name| Auth(Placement::Header(name)))
            .map_err(|_| Error::builder(format!("invalid header name {name:?}")))
    }

    /// Attaches nothing: for a client whose only credential is its TLS identity
    /// ([`ClientBuilder::identity`](crate::ClientBuilder::identity) without a source).
    pub fn none() -> Auth {
        Auth(Placement::None)
    }

    /// `Authorization: Bearer <key>`. The default when no `auth` is configured.
    pub fn bearer() -> Auth {
        Auth(Placement::Bearer)
    }

    /// The key as query parameter `name` (e.g. `api_key`). keyswap removes the query string
    /// from URLs in its errors and logs so the key does not leak through them.
    pub fn query(name: impl Into<String>) -> Auth {
        Auth(Placement::Query(name.into()))
    }

    /// HTTP basic auth with `user` as the user name and the key as the password.
    pub fn basic(user: impl Into<String>) -> Auth {
        Auth(Placement::Basic(user.into()))
    }

    /// A signer of your own: called on every attempt with the request as built (method, URL,
    /// headers, body) and the credential to use. Use it for HMAC schemes of exchange APIs.
    ///
    /// ```
    /// use keyswap::Auth;
    /// let auth = Auth::sign(|req, cred| {
    ///     req.headers_mut().insert("X-MBX-APIKEY", cred.expose_key().parse()?);
    ///     // … compute a signature over req.url().query() with cred.expose_secret() …
    ///     Ok(())
    /// });
    /// ```
    pub fn sign<F>(signer: F) -> Auth
    where
        F: Fn(
                &mut reqwest::Request,
                &Credential,
            ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
            + Send
            + Sync
            + 'static,
    {
        Auth(Placement::Sign(Arc::new(signer)))
    }

    /// An exchange signer ([`HmacSigner::binance`](crate::sign::HmacSigner::binance),
    /// [`KrakenSigner`](crate::sign::KrakenSigner), …, or your own [`Signer`]): it signs every
    /// attempt afresh with the client's server-time clock and nonces, and tells the client how
    /// its exchange reports a rejected credential, timestamp or nonce (including in a body, as
    /// Kraken's HTTP 200 errors).
    ///
    /// ```
    /// use keyswap::{Auth, sign::HmacSigner};
    /// let auth = Auth::signer(HmacSigner::binance().recv_window_ms(5000)?);
    /// # let _ = auth;
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn signer(signer: impl Signer) -> Auth {
        Auth(Placement::Signer(Arc::new(signer)))
    }

    pub(crate) fn apply(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        ctx: &SignContext<'_>,
    ) -> Result<()> {
        match &self.0 {
            Placement::None => {}
            Placement::Header(name) => {
                req.headers_mut()
                    .insert(name.clone(), sensitive(cred.expose_key())?);
            }
            Placement::Bearer => {
                let value = sensitive(&format!("Bearer {}", cred.expose_key()))?;
                req.headers_mut().insert(AUTHORIZATION, value);
            }
            Placement::Query(name) => {
                req.url_mut()
                    .query_pairs_mut()
                    .append_pair(name, cred.expose_key());
            }
            Placement::Basic(user) => {
                let raw = format!("{user}:{}", cred.expose_key());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let value = sensitive(&format!("Basic {encoded}"))?;
                req.headers_mut().insert(AUTHORIZATION, value);
            }
            Placement::Signer(signer) => {
                signer.sign(req, cred, ctx).map_err(|e| {
                    Error::new(
                        Kind::Sign,
                        format!("signing with credential {} failed", cred.version()),
                    )
                    .with_cause(e)
                })?;
            }
            Placement::Sign(signer) => {
                signer(req, cred).map_err(|e| {
                    Error::new(
                        Kind::Sign,
                        format!("signing with credential {} failed", cred.version()),
                    )
                    .with_cause(e)
                })?;
            }
        }
        Ok(())
    }
}

impl Auth {
    /// The response as handed back to the caller: with query-parameter auth, the credential
    /// parameter is removed from the URL it reports (its `url()`, its `Debug`, the message of
    /// `error_for_status`). Other placements put nothing in the URL: the response is untouched.
    #[inline] // the common case is one comparison; inlined, the response is not moved
    pub(crate) fn scrub(&self, resp: reqwest::Response) -> reqwest::Response {
        match &self.0 {
            Placement::Query(name) => without_query_credential(resp, name),
            _ => resp,
        }
    }

    /// The exchange signer, when this placement is one.
    pub(crate) fn as_signer(&self) -> Option<&Arc<dyn Signer>> {
        match &self.0 {
            Placement::Signer(signer) => Some(signer),
            _ => None,
        }
    }
}

/// `resp` with the query parameter `name` removed from the URL it reports, if it is there.
fn without_query_credential(resp: reqwest::Response, name: &str) -> reqwest::Response {
    if !resp.url().query_pairs().any(|(k, _)| k == name) {
        return resp;
    }
    let url = without_param(resp.url(), name);
    crate::response::with_url(resp, url)
}

/// `url` without the query parameter `name` (every occurrence), other parameters kept.
fn without_param(url: &reqwest::Url, name: &str) -> reqwest::Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = url.clone();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url
}

impl Default for Auth {
    fn default() -> Self {
        Auth::bearer()
    }
}

/// A header value marked sensitive, so `Debug` of the request or its headers hides it.
fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        Error::new(
            Kind::Sign,
            "the credential cannot be placed in a header (invalid characters)",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Placement::None => f.write_str("Auth::none()"),
            Placement::Header(name) => write!(f, "Auth::header({name})"),
            Placement::Bearer => f.write_str("Auth::bearer()"),
            Placement::Query(name) => write!(f, "Auth::query({name})"),
            Placement::Basic(user) => write!(f, "Auth::basic({user})"),
            Placement::Sign(_) => f.write_str("Auth::sign(..)"),
            Placement::Signer(s) => write!(f, "Auth::signer({})", s.name()),
        }
    }
}
