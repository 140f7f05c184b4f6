//! `Client`: the handle users hold, a skin over the [engine](crate::engine) every clone of it
//! points to.

use std::fmt;
use std::sync::Arc;

use reqwest::{Method, Request, Response, Url};

use crate::engine::Engine;
use crate::error::Result;
use crate::health::Health;
use crate::request::RequestBuilder;
use crate::stats::Stats;

/// An HTTP client that attaches the current credential to every request and absorbs key
/// rotation: see the [crate documentation](crate) for what happens on an authentication failure.
///
/// Cheap to clone (an `Arc`); clones share the credential, the counters and the connection pool.
/// `Send + Sync`: share one client between tasks and threads.
#[derive(Clone)]
pub struct Client {
    engine: Arc<Engine>,
}

impl Client {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Client { engine }
    }

    /// The engine this client is a skin over (for the other skins: middleware, tower).
    #[cfg_attr(not(any(feature = "middleware", feature = "tower")), allow(dead_code))]
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// A `GET` request. `url` is absolute, or relative to the [base URL](crate::ClientBuilder::base_url).
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
            .map(|url| self.engine.http().request(method, url));
        RequestBuilder::new(self.engine.clone(), built)
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
        crate::engine::execute(
            self.engine.clone(),
            crate::engine::OWN,
            Ok(request),
            None,
            crate::engine::Built::Elsewhere,
        )
    }

    /// Loads the first credential and starts watching the source, if that has not happened
    /// yet; fails, naming the source and the cause, when no valid credential can be loaded
    /// (then the next call tries again). [`ClientBuilder::build`](crate::ClientBuilder::build)
    /// awaits it; a client from [`build_lazy`](crate::ClientBuilder::build_lazy) runs it on
    /// first use, or when you call it (the fail-fast check). Concurrent callers share one load.
    /// In a forked child it starts the client's watch again (the parent's is not there).
    pub async fn ready(&self) -> Result<()> {
        crate::engine::ready(&self.engine).await
    }

    /// Re-loads the source now. Returns the version in use afterwards. On a source error the
    /// current credential stays and the error is returned.
    pub async fn refresh(&self) -> Result<String> {
        crate::engine::refresh(&self.engine).await
    }

    /// The version of the credential requests use now (never the key itself).
    pub fn credential_version(&self) -> String {
        self.engine.credential_version()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.engine.counters().snapshot()
    }

    /// Fresh, stale but serving, or failing — with since when and why. Cheap: no I/O.
    ///
    /// ```
    /// # async fn demo() -> Result<(), keyswap::Error> {
    /// use keyswap::{Client, HealthState, Source};
    /// let client = Client::builder().source(Source::fixed("k")).build().await?;
    /// assert_eq!(client.health().state, HealthState::Fresh);
    /// # Ok(()) }
    /// ```
    pub fn health(&self) -> Health {
        crate::engine::health(&self.engine)
    }

    /// The counters of the TLS identity (handshakes, rotations, refusals), when the client has
    /// one ([`ClientBuilder::identity`](crate::ClientBuilder::identity)).
    pub fn tls_stats(&self) -> Option<crate::tls::TlsStats> {
        self.engine.tls().map(|t| t.stats())
    }

    /// The version of the client certificate handshakes present now (a hash of its chain,
    /// never key material), when the client has one. Empty until it is loaded.
    pub fn identity_version(&self) -> Option<String> {
        self.engine.tls().map(|t| t.version())
    }

    /// What this client's classifier — the one the recover path starts from — says about a
    /// response obtained elsewhere: its [`RejectionPolicy`](crate::RejectionPolicy) and the
    /// exchange signer of its [`Auth`](crate::Auth) (however it was configured:
    /// [`Auth::signer`](crate::Auth::signer) or an auth string such as `"binance"`). For a
    /// response this client returned, the verdict is already known: [`crate::verdict`].
    /// The body is read only when the signer or the body rule asks for it, at most 64 KiB of
    /// it (a body rule reads only JSON, text or untyped bodies); the response is handed back
    /// with its body reading exactly as the server sent it.
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
    /// // A response that did not come through `kraken` (another HTTP stack, a replay).
    /// let resp = keyswap::reqwest::get("https://api.kraken.com/0/private/Balance").await?;
    /// // Kraken answers a revoked key with HTTP 200 {"error":["EAPI:Invalid key"]}.
    /// let (verdict, resp) = kraken.classify(resp).await;
    /// if verdict == Rejection::Credential {
    ///     eprintln!("the key pair is rejected for good: {}", resp.text().await?);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn classify(&self, response: Response) -> (crate::Rejection, Response) {
        self.engine.classifier().classify(response).await
    }

    /// The name of the credential source (`file:/path`, `env:NAME`, …).
    pub fn source_name(&self) -> &str {
        self.engine.source_name()
    }

    /// The `reqwest::Client` requests go through. With a TLS identity
    /// ([`ClientBuilder::identity`](crate::ClientBuilder::identity)) requests go through the identity's own client instead,
    /// one per certificate; this one only builds them.
    pub fn http_client(&self) -> &reqwest::Client {
        self.engine.http()
    }

    fn resolve(&self, url: &str) -> Result<Url> {
        let base = self.engine.base_url();
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

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("keyswap::Client")
            .field("source", &self.engine.source_name())
            .field("auth", self.engine.auth())
            .field("credential", &*self.engine.store().current())
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

    use crate::Source;

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
