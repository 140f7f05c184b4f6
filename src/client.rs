//! `Client`: the handle users hold, and `Shared`, what every clone of it points to.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use reqwest::{Method, Request, Response, Url};
use tracing::Instrument;

use crate::auth::Auth;
use crate::builder::ClientBuilder;
use crate::classify::Classifier;
use crate::error::Result;
use crate::refresh::Refresher;
use crate::request::RequestBuilder;
use crate::scope::{Scope, display_url};
use crate::sign::{Clock, Nonces};
use crate::source::Source;
use crate::stats::{Counters, Stats};
use crate::store::Store;

/// An HTTP client that attaches the current credential to every request and absorbs key
/// rotation: see the [crate documentation](crate) for what happens on an authentication failure.
///
/// Cheap to clone (an `Arc`); clones share the credential, the counters and the connection pool.
/// `Send + Sync`: share one client between tasks and threads.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

/// Aligned to 128 bytes so that in the `Arc` it starts on its own cache lines, apart from the
/// reference counts: every request clones the `Client` (its builder holds one) from whatever
/// thread it runs on, and the fields every request reads should not move between cores with
/// each of those writes.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) store: Store,
    pub(crate) source: Source,
    pub(crate) source_name: String,
    pub(crate) auth: Auth,
    pub(crate) scope: Scope,
    pub(crate) base_url: Option<Url>,
    pub(crate) classifier: Classifier,
    /// Server time for signers: shared by every clone, corrected from the exchange.
    pub(crate) clock: Clock,
    /// Nonces for signers: strictly increasing across clones and threads.
    pub(crate) nonces: Nonces,
    pub(crate) sync_clock: bool,
    pub(crate) clock_learned: tokio::sync::OnceCell<()>,
    pub(crate) refresher: Refresher,
    /// The mandatory-window renewal's gate (see `expiry.rs`).
    pub(crate) renewal: crate::expiry::Renewal,
    pub(crate) load_timeout: Duration,
    pub(crate) max_redirects: usize,
    pub(crate) counters: Counters,
    pub(crate) health: crate::health::Tracker,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Set once the first credential is loaded and the watch started (see `lifecycle.rs`).
    pub(crate) started: tokio::sync::OnceCell<()>,
    /// The background watch, and the process it runs in (see `lifecycle.rs`).
    pub(crate) watch: crate::lifecycle::Watch,
    /// The clock and sleep of every timing decision (see [`crate::time`]).
    pub(crate) time: crate::time::Time,
    /// The TLS identity (mTLS), when one is configured: requests then go through its
    /// generation's `reqwest::Client` instead of `http` (see `tls/`).
    pub(crate) tls: Option<Arc<crate::tls::Tls>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.watch.stop();
    }
}

impl Client {
    /// Starts configuring a client. A [source](ClientBuilder::source) is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A `GET` request. `url` is absolute, or relative to the [base URL](ClientBuilder::base_url).
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        let built = self
            .resolve(url.as_ref())
            .map(|url| self.shared.http.request(method, url));
        RequestBuilder::new(self.clone(), built)
    }

    /// Sends a request built elsewhere (`reqwest::Request::new`, or
    /// [`RequestBuilder::build`]) with the credential, the recover path and redirect handling.
    ///
    /// The future owns what it needs (a clone of the client: an `Arc`), so it is `'static` and
    /// can be handed to `tokio::spawn`, as reqwest's can.
    ///
    /// ```
    /// # async fn demo() -> keyswap::Result<()> {
    /// use keyswap::{Client, Source};
    /// let client = Client::builder().source(Source::fixed("k")).build().await?;
    /// let request = client.get("https://api.example.com/v1/ping").build()?;
    /// let in_background = tokio::spawn(client.execute(request));
    /// # drop(in_background); Ok(()) }
    /// ```
    pub fn execute(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response>> + Send + 'static {
        let client = self.clone();
        async move { client.execute_own(request, None).await }
    }

    /// [`execute_with`](Self::execute_with) through the client's own transport: its
    /// `reqwest::Client`, or with a TLS identity, the identity's current generation.
    pub(crate) fn execute_own(
        &self,
        request: Request,
        max_redirects: Option<usize>,
    ) -> impl Future<Output = Result<Response>> + Send + '_ {
        match &self.shared.tls {
            Some(tls) => Either::Left(self.execute_with(&**tls, request, max_redirects)),
            None => Either::Right(self.execute_with(&self.shared.http, request, max_redirects)),
        }
    }

    /// [`execute`](Self::execute) through `http` (the client's own `reqwest::Client`, or one
    /// given to [`RequestBuilder::send_with`]) with the request's own redirect limit (`None`:
    /// the client's), as [`RequestBuilder::max_redirects`] sets it.
    pub(crate) fn execute_with<'a, T: crate::transport::Transport>(
        &'a self,
        http: &'a T,
        request: Request,
        max_redirects: Option<usize>,
    ) -> impl Future<Output = Result<Response>> + Send + 'a {
        let span = request_span(&request);
        // A lazily built client loads its first credential on first use (boxed: once per client).
        let sent = if self.shared.is_ready_here() {
            Either::Left(self.shared.execute(http, request, max_redirects))
        } else {
            Either::Right(Box::pin(async move {
                self.ready().await?;
                self.shared.execute(http, request, max_redirects).await
            }))
        };
        sent.instrument(span)
    }

    /// Sends through another transport (a skin's: the rest of a middleware chain), with the same
    /// engine as [`execute`](Self::execute). `max_redirects`: the request's own redirect limit
    /// (a [`MaxRedirects`](crate::MaxRedirects) extension), `None` for the client's.
    #[cfg_attr(not(any(feature = "middleware", feature = "tower")), allow(dead_code))]
    pub(crate) async fn execute_via<T: crate::transport::Transport>(
        &self,
        transport: &T,
        request: Request,
        max_redirects: Option<usize>,
    ) -> Result<Response> {
        if !self.shared.is_ready_here() {
            self.ready().await?;
        }
        let span = request_span(&request);
        self.shared
            .execute(transport, request, max_redirects)
            .instrument(span)
            .await
    }

    /// Re-loads the source now. Returns the version in use afterwards. On a source error the
    /// current credential stays and the error is returned.
    pub async fn refresh(&self) -> Result<String> {
        if !self.shared.is_started() {
            self.ready().await?;
            return Ok(self.credential_version());
        }
        if !self.shared.is_ready_here() {
            self.ready().await?;
        }
        self.shared.refresh_now().await?;
        Ok(self.credential_version())
    }

    /// The version of the credential requests use now (never the key itself).
    pub fn credential_version(&self) -> String {
        self.shared.store.current().version().to_owned()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The counters of the TLS identity (handshakes, rotations, refusals), when the client has
    /// one ([`ClientBuilder::identity`]).
    pub fn tls_stats(&self) -> Option<crate::tls::TlsStats> {
        self.shared.tls.as_ref().map(|t| t.stats())
    }

    /// The version of the client certificate handshakes present now (a hash of its chain,
    /// never key material), when the client has one. Empty until it is loaded.
    pub fn identity_version(&self) -> Option<String> {
        self.shared.tls.as_ref().map(|t| t.version())
    }

    /// Whether this client counts `response` as "the credential was rejected", judging by its
    /// status and headers alone (the statuses of
    /// [`retry_on_status`](ClientBuilder::retry_on_status), the
    /// [`retry_on`](ClientBuilder::retry_on) predicate, and what an
    /// [exchange signer](Auth::signer) reads in status and headers). A response `send` returned
    /// with such a status is one the recover path could not absorb. Rejections reported in the
    /// body (Kraken's HTTP 200 errors, Binance's codes in a 400, a
    /// [`classify_body`](ClientBuilder::classify_body) rule) are not seen here: use
    /// [`classify`](Self::classify) for those.
    pub fn is_credential_rejection(&self, response: &Response) -> bool {
        self.shared.classifier.by_head(response) == crate::sign::Rejection::Credential
    }

    /// What this client's classifier — the one the recover path starts from — says about
    /// `response`: [`retry_on_status`](ClientBuilder::retry_on_status),
    /// [`retry_on`](ClientBuilder::retry_on), the exchange signer of its [`Auth`] (however it
    /// was configured: [`Auth::signer`] or an auth string such as `"binance"`) and
    /// [`classify_body`](ClientBuilder::classify_body). The body is read only when the signer
    /// or the body rule asks for it, at most 64 KiB of it (a body rule reads only JSON, text or
    /// untyped bodies); the response is handed back with its body reading exactly as the
    /// server sent it.
    ///
    /// [`Rejection::Credential`](crate::Rejection::Credential) on a response
    /// [`send`](RequestBuilder::send) returned means the recover path could not absorb the
    /// rejection: the credential itself is bad. The one place that decides it, for every skin
    /// (the Python bindings' `raise_for_status` asks here).
    ///
    /// ```
    /// # async fn demo() -> keyswap::Result<()> {
    /// use keyswap::{Auth, Client, Credential, Rejection, Source};
    /// let kraken = Client::builder()
    ///     .source(Source::fixed(Credential::new("key").with_secret("c2VjcmV0")))
    ///     .auth(Auth::parse("kraken")?)
    ///     .base_url("https://api.kraken.com")
    ///     .build()
    ///     .await?;
    /// let resp = kraken.post("/0/private/Balance").send().await?;
    /// // Kraken answers a revoked key with HTTP 200 {"error":["EAPI:Invalid key"]}.
    /// let (verdict, resp) = kraken.classify(resp).await;
    /// if verdict == Rejection::Credential {
    ///     eprintln!("the key pair is rejected for good: {}", resp.text().await?);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn classify(&self, response: Response) -> (crate::Rejection, Response) {
        self.shared.classifier.classify(response).await
    }

    /// The name of the credential source (`file:/path`, `env:NAME`, …).
    pub fn source_name(&self) -> &str {
        &self.shared.source_name
    }

    /// The `reqwest::Client` requests go through. With a TLS identity
    /// ([`ClientBuilder::identity`]) requests go through the identity's own client instead,
    /// one per certificate; this one only builds them.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.shared.http
    }

    fn resolve(&self, url: &str) -> Result<Url> {
        let base = self.shared.base_url.as_ref();
        if let Some(hit) = last_url::get(url, base) {
            return Ok(hit);
        }
        let (resolved, relative) = match (Url::parse(url), base) {
            (Ok(url), _) => (url, false),
            (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => (
                base.join(url)
                    .map_err(|e| crate::Error::builder(format!("invalid URL path {url:?}: {e}")))?,
                true,
            ),
            (Err(e), _) => {
                return Err(crate::Error::builder(format!(
                    "invalid URL {:?}: {e}",
                    // A URL that does not parse may still hold a query with a key: show the path only.
                    url.split(['?', '#']).next().unwrap_or_default()
                )));
            }
        };
        last_url::put(url, base.filter(|_| relative), &resolved);
        Ok(resolved)
    }
}

/// The last URL each thread resolved: clients send to the same few URLs again and again, and
/// parsing one (host validation, IDNA, percent-encoding) costs several times what cloning the
/// parsed `Url` does. The key is the exact string given and, for a relative one, the base it
/// was joined onto: a hit is the `Url` a fresh parse would give.
mod last_url {
    use std::cell::RefCell;

    use reqwest::Url;

    /// Longer URLs are parsed every time (the cache holds one copy per thread).
    const MAX_LEN: usize = 2048;

    struct Entry {
        input: Box<str>,
        /// The base a relative `input` was joined onto; `None` for an absolute one.
        base: Option<Box<str>>,
        url: Url,
    }

    thread_local! {
        static LAST: RefCell<Option<Entry>> = const { RefCell::new(None) };
    }

    pub(super) fn get(input: &str, base: Option<&Url>) -> Option<Url> {
        LAST.try_with(|last| {
            let last = last.try_borrow().ok()?;
            let e = last.as_ref()?;
            let same_base = match &e.base {
                None => true,
                Some(b) => base.is_some_and(|base| **b == *base.as_str()),
            };
            (*e.input == *input && same_base).then(|| e.url.clone())
        })
        .ok()
        .flatten()
    }

    pub(super) fn put(input: &str, base: Option<&Url>, url: &Url) {
        if input.len() > MAX_LEN {
            return;
        }
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some(Entry {
                    input: input.into(),
                    base: base.map(|b| b.as_str().into()),
                    url: url.clone(),
                });
            }
        });
    }
}

/// The span every request runs in (its fields are only evaluated when the span is enabled).
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "keyswap.request",
        method = %request.method(),
        url = %display_url(request.url()),
    )
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("keyswap::Client")
            .field("source", &self.shared.source_name)
            .field("auth", &self.shared.auth)
            .field("credential", &*self.shared.store.current())
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<crate::Error>();
    assert_send_sync::<crate::Credential>();
    assert_send_sync::<crate::Source>();
    assert_send_sync::<crate::Auth>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: Option<&str>) -> Client {
        let mut b = Client::builder().source(Source::fixed("k"));
        if let Some(base) = base {
            b = b.base_url(base);
        }
        b.build_lazy().unwrap()
    }

    fn url_of(c: &Client, url: &str) -> String {
        c.get(url).build().unwrap().url().to_string()
    }

    #[test]
    fn the_last_url_cache_answers_as_a_fresh_parse() {
        let a = client(Some("https://a.example/v1/"));
        let b = client(Some("https://b.example/v2/"));
        let none = client(None);
        // The same relative path on the same thread, through clients with different bases.
        assert_eq!(url_of(&a, "orders?x=1"), "https://a.example/v1/orders?x=1");
        assert_eq!(url_of(&a, "orders?x=1"), "https://a.example/v1/orders?x=1");
        assert_eq!(url_of(&b, "orders?x=1"), "https://b.example/v2/orders?x=1");
        assert_eq!(url_of(&a, "orders?x=1"), "https://a.example/v1/orders?x=1");
        assert!(
            none.get("orders?x=1").build().is_err(),
            "no base: relative fails"
        );
        // An absolute URL is the same whatever the base.
        assert_eq!(url_of(&a, "https://c.example/x"), "https://c.example/x");
        assert_eq!(url_of(&b, "https://c.example/x"), "https://c.example/x");
        assert_eq!(url_of(&none, "https://c.example/x"), "https://c.example/x");
        assert_eq!(url_of(&none, "HTTPS://C.example/y"), "https://c.example/y");
        assert!(none.get("https://c.example:99999/").build().is_err());
    }
}
