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

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use reqwest::header::{ETAG, HeaderName, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{BoxFuture, ChangeNotifier, Changes, CredentialSource, parse};
use crate::credential::Credential;
use crate::error::{Error, Result, redact_reqwest};
use crate::scope::{display_url, is_loopback};

/// Default time between polls of an endpoint source (±20 % jitter).
pub const DEFAULT_HTTP_POLL_INTERVAL: Duration = Duration::from_secs(300);
/// Default bound on one request to an endpoint source (connect to last byte).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on an endpoint's response body: bigger bodies are rejected while streaming.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default time a fetch's outcome is reused by later loads (see [`HttpSource::reuse_window`]).
/// Short on purpose: a refresh after a 401 may be served an outcome this old, and the
/// client's bounded wait for a rotation (1 s by default) must outlast it.
pub const DEFAULT_REUSE_WINDOW: Duration = Duration::from_millis(250);
/// The longest `Retry-After` honoured; a longer one is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// Header values that may rotate themselves (a Vault token, a cloud access token).

/// Where the value of a request header comes from; read again on every fetch, so a token
/// that is itself rotated (a Vault agent's sink file, a refreshed cloud access token) is
/// picked up without rebuilding anything.
///
/// The value is never shown: `Debug` prints the file path or variable name, or `[REDACTED]`.
#[derive(Clone)]
pub struct HeaderValueFrom {
    from: ValueFrom,
    prefix: &'static str,
}

#[derive(Clone)]
enum ValueFrom {
    Literal(SecretString),
    File(PathBuf),
    Env(String),
}

impl HeaderValueFrom {
    /// A fixed value.
    pub fn literal(value: impl Into<String>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::Literal(SecretString::from(value.into())),
            prefix: "",
        }
    }

    /// The content of a file (surrounding whitespace trimmed), read on every fetch.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::File(path.into()),
            prefix: "",
        }
    }

    /// The value of an environment variable (trimmed), read on every fetch.
    pub fn env(name: impl Into<String>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::Env(name.into()),
            prefix: "",
        }
    }

    fn describe(&self) -> String {
        match &self.from {
            ValueFrom::Literal(_) => "literal value".to_owned(),
            ValueFrom::File(p) => format!("file {}", p.display()),
            ValueFrom::Env(v) => format!("variable {v}"),
        }
    }

    /// The header value now. Errors name where it comes from, never what it holds.
    fn resolve(&self) -> std::result::Result<HeaderValue, String> {
        let raw = match &self.from {
            ValueFrom::Literal(s) => s.expose_secret().to_owned(),
            ValueFrom::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {}", self.describe(), e.kind()))?,
            ValueFrom::Env(v) => {
                std::env::var(v).map_err(|_| format!("{} is not set", self.describe()))?
            }
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        let mut value = HeaderValue::try_from(format!("{}{raw}", self.prefix))
            .map_err(|_| format!("{} is not a valid header value", self.describe()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for HeaderValueFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            ValueFrom::Literal(_) => f.write_str("HeaderValueFrom::literal([REDACTED])"),
            ValueFrom::File(p) => write!(f, "HeaderValueFrom::file({})", p.display()),
            ValueFrom::Env(v) => write!(f, "HeaderValueFrom::env({v})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From a JSON document to a credential.

#[derive(Debug, Clone)]
enum Decode {
    Json(String),
    Base64(String),
}

/// How a credential is taken out of a JSON document: decode steps, then pointers.
#[derive(Debug, Clone)]
pub(crate) struct Extract {
    decode: Vec<Decode>,
    key: String,
    secret: Option<String>,
    version: Option<String>,
    version_last_segment: bool,
    expiry: Option<String>,
}

impl Extract {
    pub(crate) fn new(key: impl Into<String>) -> Self {
        Extract {
            decode: Vec::new(),
            key: key.into(),
            secret: None,
            version: None,
            version_last_segment: false,
            expiry: None,
        }
    }

    pub(crate) fn decode_json_at(&mut self, pointer: impl Into<String>) {
        self.decode.push(Decode::Json(pointer.into()));
    }

    pub(crate) fn key(&mut self, pointer: impl Into<String>) {
        self.key = pointer.into();
    }

    pub(crate) fn secret(&mut self, pointer: impl Into<String>) {
        self.secret = Some(pointer.into());
    }

    pub(crate) fn version(&mut self, pointer: impl Into<String>, last_segment: bool) {
        self.version = Some(pointer.into());
        self.version_last_segment = last_segment;
    }

    /// Applies the decode steps and pointers to `body`. Messages name pointers and shapes
    /// (configuration), never values.
    pub(crate) fn apply(&self, body: &[u8]) -> std::result::Result<Credential, String> {
        let mut doc: Value = serde_json::from_slice(body)
            .map_err(|e| format!("response is not JSON ({})", json_error_kind(&e)))?;
        self.apply_value(&mut doc)
    }

    pub(crate) fn apply_value(&self, doc: &mut Value) -> std::result::Result<Credential, String> {
        for step in &self.decode {
            match step {
                Decode::Json(ptr) => {
                    let at = doc.pointer_mut(ptr).ok_or_else(|| missing(ptr))?;
                    let text = at.as_str().ok_or_else(|| {
                        format!("value at {ptr} is not a string to decode as JSON")
                    })?;
                    let parsed: Value = serde_json::from_str(text).map_err(|e| {
                        format!("value at {ptr} is not JSON ({})", json_error_kind(&e))
                    })?;
                    *at = parsed;
                }
                Decode::Base64(ptr) => {
                    let at = doc.pointer_mut(ptr).ok_or_else(|| missing(ptr))?;
                    let text = at
                        .as_str()
                        .ok_or_else(|| format!("value at {ptr} is not a base64 string"))?;
                    let bytes = decode_base64(text)
                        .ok_or_else(|| format!("value at {ptr} is not valid base64"))?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| format!("value at {ptr} does not decode to UTF-8 text"))?;
                    *at = Value::String(text);
                }
            }
        }
        let key = string_at(doc, &self.key)?.ok_or_else(|| missing(&self.key))?;
        let mut cred = Credential::new(key.trim());
        if let Some(ptr) = &self.secret {
            let secret = string_at(doc, ptr)?.ok_or_else(|| missing(ptr))?;
            cred = cred.with_secret(secret.trim());
        }
        if let Some(ptr) = &self.version {
            let version = match doc.pointer(ptr) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(format!("value at {ptr} is not a version string or number")),
            };
            if let Some(v) = version {
                let v = if self.version_last_segment {
                    v.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                } else {
                    v
                };
                if !v.is_empty() {
                    cred = cred.with_version(v);
                }
            }
        }
        if let Some(ptr) = &self.expiry {
            match doc.pointer(ptr) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let at: SystemTime = parse::parse_expiry(v)
                        .map_err(|_| format!("value at {ptr} is not unix seconds or RFC 3339"))?;
                    cred = cred.with_expiry(at);
                }
            }
        }
        Ok(cred)
    }
}

fn missing(ptr: &str) -> String {
    format!("no value at JSON pointer {ptr:?}")
}

fn string_at(doc: &Value, ptr: &str) -> std::result::Result<Option<String>, String> {
    match doc.pointer(ptr) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "value at {ptr} is a JSON {}, not a string{}",
            json_type(other),
            if other.is_object() {
                " (decode it first, or point deeper)"
            } else {
                ""
            }
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// serde_json messages can quote input ("invalid type: string \"...\""): keep the category.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Io => "read error",
    }
}

/// Standard or URL-safe alphabet, padded or not (GCP sends standard, padded).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let text = text.trim();
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
        .ok()
}

// ---------------------------------------------------------------------------------------------
// What every endpoint source shares: single flight, reuse window, ETag cache, Retry-After,
// the poll ticker, the HTTP client and its guards.

/// A failed fetch, as remembered for the reuse window.
#[derive(Clone)]
pub(crate) struct Failure {
    why: String,
    retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        Failure {
            why: why.into(),
            retry_after: None,
        }
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn why(&self) -> &str {
        &self.why
    }

    fn into_error(self, name: &str) -> Error {
        let err = Error::source(name, self.why);
        match self.retry_after {
            Some(after) => err.with_retry_after(after),
            None => err,
        }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::new(why)
    }
}

/// What one request to the endpoint produced.
pub(crate) enum Fetched {
    /// A credential, and the response's `ETag` if it had one.
    Fresh(Credential, Option<HeaderValue>),
    /// 304: the credential of the cached `ETag` is still current.
    NotModified,
}

#[derive(Default)]
struct FetchState {
    last: Option<(Instant, std::result::Result<Credential, Failure>)>,
    /// The `ETag` of the last 200, with the credential it produced.
    cached: Option<(HeaderValue, Credential)>,
    /// No request before this instant (a `Retry-After`).
    not_before: Option<Instant>,
}

/// One fetch in flight per source, outcomes reused for a short window, the conditional-request
/// cache, the `Retry-After` gate and the per-source poll ticker.
pub(crate) struct Fetcher {
    state: tokio::sync::Mutex<FetchState>,
    ticker: Mutex<Weak<Ticker>>,
    reuse_window: Duration,
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Fetcher {
    pub(crate) fn new(reuse_window: Duration) -> Self {
        Fetcher {
            state: Default::default(),
            ticker: Mutex::new(Weak::new()),
            reuse_window,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The HTTP client for fetches: redirects off (a token header must not follow a redirect
    /// anywhere), built once per source.
    pub(crate) fn client(
        &self,
        custom: Option<&reqwest::Client>,
    ) -> std::result::Result<reqwest::Client, Failure> {
        if let Some(client) = custom {
            return Ok(client.clone());
        }
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Failure::new(format!("cannot build the HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| client).clone())
    }

    /// Loads through the gate: reuse a recent outcome, respect `Retry-After`, else run `fetch`
    /// (given the cached `ETag`) while later callers queue for its outcome.
    pub(crate) async fn load<F, Fut>(&self, name: &str, fetch: F) -> Result<Credential>
    where
        F: FnOnce(Option<HeaderValue>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Fetched, Failure>>,
    {
        let mut state = self.state.lock().await;
        if let Some((at, outcome)) = &state.last {
            if at.elapsed() < self.reuse_window {
                return outcome.clone().map_err(|f| f.into_error(name));
            }
        }
        if let Some(not_before) = state.not_before {
            let now = Instant::now();
            if now < not_before {
                let left = not_before - now;
                return Err(Failure {
                    why: format!(
                        "the endpoint asked to retry later; not asking again for {}s",
                        left.as_secs_f64().ceil()
                    ),
                    retry_after: Some(left),
                }
                .into_error(name));
            }
        }
        let etag = state.cached.as_ref().map(|(etag, _)| etag.clone());
        let outcome = match fetch(etag).await {
            Ok(Fetched::Fresh(cred, etag)) => {
                state.cached = etag.map(|etag| (etag, cred.clone()));
                Ok(cred)
            }
            Ok(Fetched::NotModified) => match &state.cached {
                Some((_, cred)) => Ok(cred.clone()),
                None => Err(Failure::new(
                    "304 Not Modified to a request that was not conditional",
                )),
            },
            Err(failure) => {
                if let Some(after) = failure.retry_after {
                    state.not_before = Some(Instant::now() + after);
                }
                Err(failure)
            }
        };
        state.last = Some((Instant::now(), outcome.clone()));
        outcome.map_err(|f| f.into_error(name))
    }

    /// A change signal that fires every `interval` (±20 %), shared by every client of this
    /// source in the process: they wake together and their loads share one fetch.
    pub(crate) fn ticker(&self, interval: Duration) -> Option<Changes> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let mut slot = self.ticker.lock().unwrap_or_else(|p| p.into_inner());
        let ticker = match slot.upgrade() {
            Some(existing) => existing,
            None => {
                let (notifier, _unused) = super::changes();
                let tick = notifier.clone();
                let task = handle.spawn(async move {
                    loop {
                        tokio::time::sleep(crate::driver::jittered(interval)).await;
                        tick.notify();
                    }
                });
                let started = Arc::new(Ticker {
                    notifier,
                    task: task.abort_handle(),
                });
                *slot = Arc::downgrade(&started);
                started
            }
        };
        Some(Changes {
            rx: ticker.notifier.tx.subscribe(),
            debounce: Duration::ZERO,
            _keep_alive: Some(ticker),
        })
    }
}

struct Ticker {
    notifier: ChangeNotifier,
    task: tokio::task::AbortHandle,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// TLS, except to loopback (a local agent, a test server).
pub(crate) fn check_transport(url: &Url) -> std::result::Result<(), Failure> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Failure::new(format!(
            "refusing plain http to {}: use https (plain http is allowed to loopback only)",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(Failure::new(format!("unsupported URL scheme {other:?}"))),
    }
}

/// Reads the body, counting bytes as they arrive: `Content-Length` is not trusted.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> std::result::Result<Vec<u8>, Failure> {
    let too_big = || Failure::new(format!("response body is larger than {cap} bytes"));
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest)? {
        if body.len() + chunk.len() > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error as a failure: its URL without query, no header values (reqwest's messages
/// never contain them).
pub(crate) fn describe_reqwest(err: reqwest::Error) -> Failure {
    let what = if err.is_timeout() {
        "request timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let err = redact_reqwest(err);
    let mut why = format!("{what}: {err}");
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        why.push_str(": ");
        why.push_str(&c.to_string());
        cause = c.source();
    }
    Failure::new(why)
}

/// The failure for a non-success status, with `Retry-After` read on 429 and 503.
pub(crate) fn status_failure(resp: &reqwest::Response) -> Failure {
    let status = resp.status();
    let mut failure = Failure::new(format!("endpoint answered {status}"));
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        failure.retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
            .map(|d| d.min(MAX_RETRY_AFTER));
        if let Some(after) = failure.retry_after {
            failure
                .why
                .push_str(&format!(" (Retry-After: {}s)", after.as_secs()));
        }
    } else if status.is_redirection() {
        failure
            .why
            .push_str(" (redirects are not followed: point the source at the final URL)");
    }
    failure
}

/// `Retry-After`: delta-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT" -> "1994-11-06T08:49:37Z"
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let rfc3339 = format!("{year}-{month:02}-{day:0>2}T{time}Z");
    let at = humantime::parse_rfc3339(&rfc3339).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

// ---------------------------------------------------------------------------------------------
// The generic source.

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
    fetcher: Fetcher,
}

impl HttpSource {
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
    /// [`DEFAULT_HTTP_POLL_INTERVAL`] (5 min).
    pub fn poll_interval(mut self, interval: Option<Duration>) -> Self {
        self.poll_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// The bound on one fetch, connect to last byte. Default: [`DEFAULT_HTTP_TIMEOUT`] (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted. Default: [`DEFAULT_MAX_BODY`] (1 MiB).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// How long a fetch's outcome (credential or error) is reused by later loads instead of
    /// asking again. It turns a burst of loads (every client of the process woken by the same
    /// poll tick or the same 401 wave) into one request. Zero turns reuse off (concurrent
    /// loads still share one fetch). A refresh after an authentication failure may be served an
    /// outcome up to this old: keep it well under [`ClientBuilder::await_rotation`](crate::ClientBuilder::await_rotation).
    /// Default: [`DEFAULT_REUSE_WINDOW`] (250 ms).
    pub fn reuse_window(mut self, window: Duration) -> Self {
        self.fetcher.reuse_window = window;
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

    /// The URL fetched, as shown in errors (without query).
    pub fn url(&self) -> Option<String> {
        self.url.as_ref().ok().map(display_url)
    }

    async fn fetch(&self, etag: Option<HeaderValue>) -> std::result::Result<Fetched, Failure> {
        let url = self.url.clone().map_err(Failure::new)?;
        check_transport(&url)?;
        let client = self.fetcher.client(self.http.as_ref())?;
        let mut request = client.request(Method::GET, url).timeout(self.timeout);
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
            self.fetcher.load(&name, |etag| self.fetch(etag)).await
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
    fn extraction_decodes_then_points() {
        let mut ex = Extract::new("/SecretString/api_key");
        ex.decode_json_at("/SecretString");
        ex.secret("/SecretString/api_secret");
        ex.version("/VersionId", false);
        let cred = ex
            .apply(br#"{"SecretString":"{\"api_key\":\"k1\",\"api_secret\":\"s1\"}","VersionId":"v-1"}"#)
            .unwrap();
        assert_eq!(
            (cred.expose_key(), cred.expose_secret(), cred.version()),
            ("k1", Some("s1"), "v-1")
        );

        let mut gcp = Extract::new("/payload/data");
        gcp.decode.push(Decode::Base64("/payload/data".into()));
        gcp.version("/name", true);
        let cred = gcp
            .apply(
                br#"{"name":"projects/1/secrets/s/versions/7","payload":{"data":"a2V5LWdjcAo="}}"#,
            )
            .unwrap();
        assert_eq!((cred.expose_key(), cred.version()), ("key-gcp", "7"));
    }

    #[test]
    fn extraction_errors_name_pointers_never_values() {
        let ex = Extract::new("/data/key");
        let err = ex
            .apply(br#"{"data":{"other":"sup3rs3cret"}}"#)
            .unwrap_err();
        assert!(err.contains("/data/key"), "{err}");
        let err = ex
            .apply(br#"{"data":{"key":["sup3rs3cret"]}}"#)
            .unwrap_err();
        assert!(
            !err.contains("sup3rs3cret") && err.contains("array"),
            "{err}"
        );
        let err = ex.apply(br#"{"data":{"key":"sup3rs3cret""#).unwrap_err();
        assert!(!err.contains("sup3rs3cret"), "{err}");
        let mut j = Extract::new("/s/k");
        j.decode_json_at("/s");
        let err = j.apply(br#"{"s":"sup3rs3cret"}"#).unwrap_err();
        assert!(
            !err.contains("sup3rs3cret") && err.contains("not JSON"),
            "{err}"
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").unwrap();
        assert!(later > Duration::from_secs(3600 * 24 * 365));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://vault.example",
            "http://127.0.0.1:8200",
            "http://127.8.0.1",
            "http://[::1]:1",
            "http://localhost:2773",
        ] {
            assert!(check_transport(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["http://vault.example", "http://10.0.0.1", "ftp://localhost"] {
            assert!(check_transport(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_literal_header_values() {
        let src = HttpSource::new("https://h/p?token=sup3rs3cret")
            .header("x-token", HeaderValueFrom::literal("sup3rs3cret"));
        let shown = format!("{src:?}");
        assert!(!shown.contains("sup3rs3cret"), "{shown}");
        assert_eq!(src.name(), "http:https://h/p");
    }
}
