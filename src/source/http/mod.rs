//! A credential held by an HTTP endpoint that answers JSON: a secrets manager (Vault, AWS
//! Secrets Manager Agent, GCP Secret Manager, Azure Key Vault) or anything else.
//!
//! What this file owns, and every endpoint source shares ([`Fetcher`]):
//! - one fetch in flight per source, however many clients of the process load it, and a short
//!   reuse window so a burst of loads (a fleet woken by the same tick, 401s on every client at
//!   once) costs one request;
//! - one poll ticker per source per process (its [`changes`](CredentialSource::changes)), so
//!   a thousand clients sharing a source poll it once per interval, not a thousand times;
//! - `ETag` / `If-None-Match` (an unchanged secret costs a 304), `Retry-After` on 429/503
//!   (no request leaves before it has passed), a per-fetch timeout, a streamed body cap, and
//!   TLS except to loopback.
//!
//! Backoff after failures and early refresh before expiry are not here: the client's driver
//! does them for every source alike.

mod extract;
mod fetch;
mod header;

use std::fmt;
use std::time::Duration;

use reqwest::header::{ETAG, HeaderName, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};

use crate::credential::Credential;
use crate::error::Result;
use crate::scope::display_url;
use crate::source::change_signal::Changes;
use crate::source::credential_source::{BoxFuture, CredentialSource};

use extract::Decode;
pub(crate) use extract::Extract;
pub(crate) use fetch::*;
pub use header::HeaderValueFrom;

/// Default time between polls of an endpoint source (±20 % jitter).
pub(crate) const DEFAULT_HTTP_POLL_INTERVAL: Duration = Duration::from_secs(300);
/// Default bound on one request to an endpoint source (connect to last byte).
pub(crate) const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on an endpoint's response body: bigger bodies are rejected while streaming.
pub(crate) const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default time a fetch's outcome is reused by later loads (see [`HttpSource::reuse_window`]).
/// Short on purpose: a refresh after a 401 may be served an outcome this old, and the
/// client's bounded wait for a rotation (1 s by default) must outlast it.
pub(crate) const DEFAULT_REUSE_WINDOW: Duration = Duration::from_millis(250);

/// A credential fetched from an HTTP endpoint that answers JSON; create with
/// [`Source::http`](crate::Source::http), or with one of the presets
/// ([`vault_kv2`](crate::Source::vault_kv2),
/// [`aws_secrets_manager_agent`](crate::Source::aws_secrets_manager_agent),
/// [`gcp_secret_manager`](crate::Source::gcp_secret_manager),
/// [`azure_key_vault`](crate::Source::azure_key_vault)).
///
/// Each fetch is a `GET` with the configured headers (their values re-read every time, see
/// [`HeaderValueFrom`]); the JSON answer goes through the decode steps, in order, and then the
/// [JSON pointers](https://www.rfc-editor.org/rfc/rfc6901) pick the key, and optionally the
/// secret, version and expiry.
///
/// ```
/// use keyswap::{HeaderValueFrom, Source};
///
/// // {"data": {"data": {"api_key": "..."}, "metadata": {"version": 3}}}
/// let source = Source::http("https://vault.internal:8200/v1/secret/data/payments")
///     .header("X-Vault-Token", HeaderValueFrom::file("/vault/agent/token"))
///     .key_pointer("/data/data/api_key")
///     .version_pointer("/data/metadata/version");
/// assert_eq!(keyswap::Source::from(source).name(), "http:https://vault.internal:8200/v1/secret/data/payments");
/// ```
///
/// Behaviour:
/// - **Polling**: every [`poll_interval`](Self::poll_interval) (default 5 min, ±20 %),
///   shared by every client of the source in the process, plus a load whenever a client
///   meets an authentication failure.
/// - **One request for many loads**: loads while a fetch is in flight wait for it, and loads
///   within [`reuse_window`](Self::reuse_window) of a fetch reuse its outcome.
/// - **Conditional requests**: a response `ETag` is sent back as `If-None-Match`; a 304
///   returns the cached credential.
/// - **Rate limits**: on 429 or 503 with `Retry-After`, no request leaves before it has passed
///   (loads fail fast meanwhile, the last good credential stays in use).
/// - **Guards**: a [timeout](Self::timeout) per fetch, a [body cap](Self::max_body_bytes)
///   counted while streaming, `https` required except to loopback (`127.0.0.0/8`, `::1`,
///   `localhost`), redirects not followed.
/// - **Errors** name the source (`http:` and the URL without query) and the cause; never the
///   response body, a header value or a secret.
pub struct HttpSource {
    url: std::result::Result<Url, String>,
    headers: Vec<(String, HeaderValueFrom)>,
    extract: Extract,
    poll_interval: Option<Duration>,
    timeout: Duration,
    max_body: usize,
    http: Option<reqwest::Client>,
    /// How a fetch that must get past a cache in front of the secret differs.
    bypass: Option<Bypass>,
    fetcher: Fetcher,
}

#[cfg(feature = "fuzzing")]
impl HttpSource {
    /// This source's decode steps and pointers applied to `body`, without a fetch (for
    /// `crate::fuzzing`).
    pub(crate) fn extract_body(&self, body: &[u8]) -> std::result::Result<Credential, String> {
        self.extract.apply(body)
    }
}

impl HttpSource {
    /// Default time between polls of an endpoint source (±20 % jitter).
    pub const DEFAULT_POLL_INTERVAL: Duration = DEFAULT_HTTP_POLL_INTERVAL;
    /// Default bound on one request to an endpoint source (connect to last byte).
    pub const DEFAULT_TIMEOUT: Duration = DEFAULT_HTTP_TIMEOUT;
    /// Default cap on an endpoint's response body: bigger bodies are rejected while streaming.
    pub const DEFAULT_MAX_BODY: usize = DEFAULT_MAX_BODY;
    /// Default time a fetch's outcome is reused by later loads (see [`HttpSource::reuse_window`]).
    /// Short on purpose: a refresh after a 401 may be served an outcome this old, and the
    /// client's bounded wait for a rotation (1 s by default) must outlast it.
    pub const DEFAULT_REUSE_WINDOW: Duration = DEFAULT_REUSE_WINDOW;

    pub(crate) fn new(url: &str) -> Self {
        let url = Url::parse(url).map_err(|e| {
            format!(
                "invalid URL {:?}: {e}",
                url.split(['?', '#']).next().unwrap_or_default()
            )
        });
        HttpSource {
            url,
            headers: Vec::new(),
            extract: Extract::new(""),
            poll_interval: Some(DEFAULT_HTTP_POLL_INTERVAL),
            timeout: DEFAULT_HTTP_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            http: None,
            bypass: None,
            fetcher: Fetcher::new(DEFAULT_REUSE_WINDOW),
        }
    }

    /// Sends this header with every fetch, replacing an earlier one of the same name (so a
    /// preset's token header can be re-pointed).
    pub fn header(mut self, name: impl Into<String>, value: HeaderValueFrom) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every fetch.
    pub fn bearer(self, mut token: HeaderValueFrom) -> Self {
        token.prefix = "Bearer ";
        self.header("authorization", token)
    }

    /// Where the key is in the (decoded) JSON answer, as an RFC 6901 pointer such as
    /// `/data/data/api_key`. Required: the default, `""`, is the whole document, which only
    /// works when the answer is a bare JSON string.
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.extract.key(pointer);
        self
    }

    /// Where the signing secret is (for HMAC-signing APIs). Default: none.
    pub fn secret_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.extract.secret(pointer);
        self
    }

    /// Where the passphrase is (OKX and other exchanges whose key pair comes with one).
    /// Default: none.
    pub fn passphrase_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.extract.passphrase(pointer);
        self
    }

    /// Where the version label is (a string or a number). Missing or `null`: the version is
    /// derived from the content. Default: none.
    pub fn version_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.extract.version(pointer, false);
        self
    }

    /// Like [`version_pointer`](Self::version_pointer), keeping only the last `/` segment of
    /// the value (GCP `projects/1/secrets/s/versions/3` → `3`, an Azure secret id → its
    /// version id).
    pub fn version_pointer_last_segment(mut self, pointer: impl Into<String>) -> Self {
        self.extract.version(pointer, true);
        self
    }

    /// Where the expiry is: unix seconds or an RFC 3339 timestamp. Missing or `null`: no
    /// expiry. A credential with an expiry is refreshed ahead of it. Default: none.
    pub fn expiry_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.extract.expiry = Some(pointer.into());
        self
    }

    /// Parses the string at `pointer` as JSON and puts the result in its place, so later steps
    /// and pointers can reach inside it (AWS `SecretString` holding `{"api_key": ..}`).
    /// Steps run in the order they were added.
    pub fn decode_json_at(mut self, pointer: impl Into<String>) -> Self {
        self.extract.decode_json_at(pointer);
        self
    }

    /// Decodes the base64 string at `pointer` (standard or URL-safe alphabet, padding
    /// optional) and puts the text in its place (GCP `payload.data`). Chain
    /// [`decode_json_at`](Self::decode_json_at) on the same pointer when the text is JSON.
    pub fn decode_base64_at(mut self, pointer: impl Into<String>) -> Self {
        self.extract.decode.push(Decode::Base64(pointer.into()));
        self
    }

    /// How often to poll (±20 % jitter); `None` turns polling off (loads then happen on
    /// authentication failures and before expiry only). Default:
    /// [`HttpSource::DEFAULT_POLL_INTERVAL`](crate::HttpSource::DEFAULT_POLL_INTERVAL) (5 min).
    pub fn poll_interval(mut self, interval: Option<Duration>) -> Self {
        self.poll_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// The bound on one fetch, connect to last byte. Default: [`HttpSource::DEFAULT_TIMEOUT`](crate::HttpSource::DEFAULT_TIMEOUT) (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted. Default: [`HttpSource::DEFAULT_MAX_BODY`](crate::HttpSource::DEFAULT_MAX_BODY) (1 MiB).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// How long a fetch's outcome (credential or error) is reused by later loads instead of
    /// asking again. It turns a burst of loads (every client of the process woken by the same
    /// poll tick or the same 401 wave) into one request. Zero turns reuse off (concurrent
    /// loads still share one fetch). A refresh after an authentication failure may be served an
    /// outcome up to this old: keep it well under [`RotationPolicy::await_rotation`](crate::RotationPolicy::await_rotation).
    /// Default: [`HttpSource::DEFAULT_REUSE_WINDOW`](crate::HttpSource::DEFAULT_REUSE_WINDOW) (250 ms).
    pub fn reuse_window(mut self, window: Duration) -> Self {
        self.fetcher.reuse_window = window;
        self
    }

    /// How the poll ticker of this source waits between polls: give the same
    /// [`ManualTime`](crate::time::ManualTime) as the client's
    /// [`sleep_impl`](crate::ClientBuilder::sleep_impl) to test polling without real sleeps.
    /// Default: [`TokioSleep`](crate::time::TokioSleep).
    pub fn sleep_impl(mut self, sleep: impl crate::time::AsyncSleep) -> Self {
        self.fetcher.sleep = std::sync::Arc::new(sleep);
        self
    }

    /// Fetches through this `reqwest::Client` (proxy, custom CA roots, mTLS). Build it with
    /// redirects off. Default: a client with reqwest's defaults and redirects off.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Sends to this scheme, host and port instead, keeping the path and query: for presets
    /// whose service has a fixed address (a test server, a private endpoint, a proxy).
    pub fn base_url(mut self, base: &str) -> Self {
        self.url = match (self.url, Url::parse(base)) {
            (Ok(old), Ok(base)) => {
                let mut url = base;
                url.set_path(old.path());
                url.set_query(old.query());
                Ok(url)
            }
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(format!("invalid base URL: {e}")),
        };
        self
    }

    /// Adds the query parameter `name=value` to the fetches that must get past a cache in
    /// front of the secret: the refresh after the API rejected the credential, and
    /// [`Client::refresh`](crate::Client::refresh). Scheduled polls go without it and may be
    /// answered from the cache. Without this, a refresh after a hard revocation may read the
    /// cache's stale copy until it expires (the AWS Secrets Manager Agent keeps one for 300 s
    /// by default). The [`aws_secrets_manager_agent`](crate::Source::aws_secrets_manager_agent)
    /// preset sets `refreshNow=true`, which that agent documents. Forced fetches are never
    /// conditional (no `If-None-Match`). Default: none.
    ///
    /// ```
    /// use keyswap::Source;
    /// let behind_a_cache = Source::http("http://127.0.0.1:8500/v1/secret/api")
    ///     .key_pointer("/key")
    ///     .bypass_cache_query("fresh", "1");
    /// # let _ = behind_a_cache;
    /// ```
    pub fn bypass_cache_query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.bypass = Some(Bypass::Query(name.into(), value.into()));
        self
    }

    /// Like [`bypass_cache_query`](Self::bypass_cache_query), with a request header instead
    /// (`Cache-Control: no-cache` for an HTTP cache that honours it, or a header of your
    /// proxy's). Default: none.
    pub fn bypass_cache_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.bypass = Some(Bypass::Header(name.into(), value.into()));
        self
    }

    /// The URL fetched, as shown in errors (without query).
    pub fn url(&self) -> Option<String> {
        self.url.as_ref().ok().map(display_url)
    }

    /// One request to the endpoint. `forced`: for a refresh that must get past a cache (see
    /// [`bypass_cache_query`](Self::bypass_cache_query)).
    async fn fetch(
        &self,
        etag: Option<HeaderValue>,
        forced: bool,
    ) -> std::result::Result<Fetched, Failure> {
        let mut url = self.url.clone().map_err(Failure::new)?;
        check_transport(&url)?;
        let bypass = self.bypass.as_ref().filter(|_| forced);
        if let Some(Bypass::Query(name, value)) = bypass {
            url.query_pairs_mut().append_pair(name, value);
        }
        let etag = etag.filter(|_| bypass.is_none());
        let client = self.fetcher.client(self.http.as_ref())?;
        let mut request = client.request(Method::GET, url).timeout(self.timeout);
        if let Some(Bypass::Header(name, value)) = bypass {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| Failure::new(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| Failure::new(format!("invalid value for header {name}")))?;
            request = request.header(name, value);
        }
        for (name, from) in &self.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| Failure::new(format!("invalid header name {name:?}")))?;
            let value = from
                .resolve()
                .map_err(|why| Failure::new(format!("header {name}: {why}")))?;
            request = request.header(name, value);
        }
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        request = request.header(reqwest::header::ACCEPT, "application/json");
        let resp = request.send().await.map_err(describe_reqwest)?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(status_failure(&resp));
        }
        let etag = resp.headers().get(ETAG).cloned();
        let body = read_capped(resp, self.max_body).await?;
        let cred = self.extract.apply(&body)?;
        Ok(Fetched::Fresh(cred, etag))
    }

    fn source_name(&self) -> String {
        match &self.url {
            Ok(url) => format!("http:{}", display_url(url)),
            Err(_) => "http:<invalid URL>".to_owned(),
        }
    }
}

impl CredentialSource for HttpSource {
    fn name(&self) -> String {
        self.source_name()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(async move {
            let name = self.source_name();
            self.fetcher
                .load(&name, None, |etag| self.fetch(etag, false))
                .await
        })
    }

    fn load_since(&self, since: std::time::Instant) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(async move {
            let name = self.source_name();
            self.fetcher
                .load(&name, Some(since), |etag| self.fetch(etag, true))
                .await
        })
    }

    fn changes(&self) -> Option<Changes> {
        self.fetcher.ticker(self.poll_interval?)
    }
}

impl fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &self.url())
            .field("headers", &self.headers)
            .field("extract", &self.extract)
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_literal_header_values() {
        let src = HttpSource::new("https://h/p?token=sup3rs3cret")
            .header("x-token", HeaderValueFrom::literal("sup3rs3cret"));
        let shown = format!("{src:?}");
        assert!(!shown.contains("sup3rs3cret"), "{shown}");
        assert_eq!(src.name(), "http:https://h/p");
    }
}

/// How a forced fetch (a refresh after a rejection, or `Client::refresh`) asks a cache in front
/// of the secret for a fresh copy.
#[derive(Clone, Debug)]
enum Bypass {
    Query(String, String),
    Header(String, String),
}
