//! `RequestBuilder`: reqwest's builder, delegated, with `send` going through keyswap.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, Request, Response};
use serde::Serialize;

use crate::engine::{Built, Engine, OWN, Route};
use crate::error::{Error, Result};

/// A request being built; mirrors [`reqwest::RequestBuilder`]. Finish with
/// [`send`](RequestBuilder::send).
///
/// The credential is not set here: it is attached when the request is sent (and again, freshly,
/// on a retry), so the builder can be kept and cloned freely.
#[must_use = "a RequestBuilder does nothing until it is sent"]
pub struct RequestBuilder {
    engine: Arc<Engine>,
    inner: Result<reqwest::RequestBuilder>,
    /// This request's redirect limit; `None`: the client's.
    max_redirects: Option<usize>,
}

impl RequestBuilder {
    pub(crate) fn new(engine: Arc<Engine>, inner: Result<reqwest::RequestBuilder>) -> Self {
        RequestBuilder {
            engine,
            inner,
            max_redirects: None,
        }
    }

    fn map(mut self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.inner = self.inner.map(f);
        self
    }

    /// Adds a header.
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|b| b.header(key, value))
    }

    /// Adds headers, replacing existing ones of the same name.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|b| b.headers(headers))
    }

    /// Appends query parameters (anything `serde_urlencoded` can serialize).
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|b| b.query(query))
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, json: &T) -> Self {
        self.map(|b| b.json(json))
    }

    /// Sets a form body (`application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> Self {
        self.map(|b| b.form(form))
    }

    /// Sets the body. A streamed body cannot be replayed: such a request is not retried after
    /// an authentication failure, the server's response is returned as it is.
    pub fn body<T: Into<Body>>(self, body: T) -> Self {
        self.map(|b| b.body(body))
    }

    /// Sets a timeout for each attempt (connect to end of body).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// Sets the HTTP version.
    pub fn version(self, version: reqwest::Version) -> Self {
        self.map(|b| b.version(version))
    }

    /// How many redirects this request may follow, in place of the client's
    /// [`max_redirects`](crate::ClientBuilder::max_redirects); zero returns a 3xx response as
    /// it is (its `Location` unfollowed). Each hop that is followed still decides afresh whether
    /// the credential goes along (never to another origin than the configured ones), and more
    /// hops than the limit fail with an error for which [`Error::is_redirect`] is true, as with
    /// the client's setting. Default: the client's setting
    /// ([`DEFAULT_MAX_REDIRECTS`](crate::ClientBuilder::DEFAULT_MAX_REDIRECTS) unless it was changed).
    ///
    /// Honoured by [`send`](Self::send). A `reqwest::Request` from [`build`](Self::build) cannot
    /// carry it (reqwest keeps its extensions private): [`Client::execute`](crate::Client::execute) follows the
    /// client's setting. In a middleware or tower stack, put a
    /// [`MaxRedirects`](crate::MaxRedirects) extension on the request instead.
    ///
    /// ```
    /// # async fn demo() -> keyswap::Result<()> {
    /// use keyswap::{Client, Source};
    /// let client = Client::builder().source(Source::env("API_KEY")).build().await?;
    /// let resp = client
    ///     .get("https://api.example.com/v1/export")
    ///     .max_redirects(0) // this request only: see where the export would send us
    ///     .send()
    ///     .await?;
    /// if resp.status().is_redirection() {
    ///     println!("export at {:?}", resp.headers().get("location"));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = Some(max);
        self
    }

    /// Builds the request without the credential (it is attached at send time). A
    /// [`max_redirects`](Self::max_redirects) set on this builder is not part of it.
    pub fn build(self) -> Result<Request> {
        self.inner?.build().map_err(Error::request)
    }

    /// Sends the request: attaches the credential, and on an authentication failure runs the
    /// recover path (refresh, retry, fallback, bounded wait) before returning.
    pub fn send(self) -> impl Future<Output = Result<Response>> + Send + 'static {
        // The builder's own handle, moved into the future: no second reference-count round
        // trip on the shared client, and no future around the engine's.
        let RequestBuilder {
            engine,
            inner,
            max_redirects,
        } = self;
        let request = inner.and_then(|b| b.build().map_err(Error::request));
        crate::engine::execute(engine, OWN, request, max_redirects, Built::Here)
    }

    /// Sends the request as [`send`](Self::send) does — the same credential store, recover
    /// path (one refresh in flight per client, shared by every caller), redirect handling,
    /// counters and metrics — but through `http` instead of the client's own
    /// [`http_client`](crate::Client::http_client): its connection pool, its settings.
    ///
    /// For callers that keep one `reqwest::Client` per thread or per runtime under one keyswap
    /// client, so that each thread's connections live on the runtime that thread drives (the
    /// Python bindings do this for their blocking client). Build `http` with the settings of
    /// the client's own (timeouts, TLS, proxies, default headers) and with
    /// `redirect(reqwest::redirect::Policy::none())`: keyswap follows redirects itself and
    /// decides per hop whether the credential goes along, as for
    /// [`ClientBuilder::http_client`](crate::ClientBuilder::http_client).
    ///
    /// ```
    /// # async fn demo() -> keyswap::Result<()> {
    /// use keyswap::{Client, Source};
    /// let client = Client::builder().source(Source::env("API_KEY")).build().await?;
    /// // This thread's own pool, same settings as the client's.
    /// let http = keyswap::reqwest::Client::builder()
    ///     .redirect(keyswap::reqwest::redirect::Policy::none())
    ///     .build()?;
    /// let resp = client
    ///     .get("https://api.example.com/v1/orders")
    ///     .send_with(&http)
    ///     .await?;
    /// # drop(resp);
    /// # Ok(()) }
    /// ```
    pub fn send_with(
        self,
        http: &reqwest::Client,
    ) -> impl Future<Output = Result<Response>> + Send + '_ {
        let RequestBuilder {
            engine,
            inner,
            max_redirects,
        } = self;
        let request = inner.and_then(|b| b.build().map_err(Error::request));
        crate::engine::execute(
            engine,
            Route::Skin(http),
            request,
            max_redirects,
            Built::Here,
        )
    }

    /// A copy of this builder, `None` when the body is a stream.
    pub fn try_clone(&self) -> Option<Self> {
        let inner = match &self.inner {
            Ok(b) => Ok(b.try_clone()?),
            Err(e) => Err(Error::builder(e.to_string())),
        };
        Some(RequestBuilder {
            engine: self.engine.clone(),
            inner,
            max_redirects: self.max_redirects,
        })
    }
}

impl std::fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("keyswap::RequestBuilder")
            .finish_non_exhaustive()
    }
}
