//! `Client` (blocking, GIL released while it waits) and `AsyncClient` (asyncio awaitables),
//! both thin wrappers of one shared `Inner` around `keyswap::Client`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::Duration;

use keyswap::reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use keyswap::reqwest::{Method, Url, Version};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};

use crate::auth::Auth;
use crate::convert::{self, Body, opt_seconds, seconds};
use crate::errors::{closed_error, config_error, message, to_py};
use crate::health::Health;
use crate::response::{Body as Body2, Response, Stream};
use crate::runtime::{PerGeneration, interruptible, is_main_thread};
use crate::sources::Source;
use crate::{HttpConfig, SyncRuntime, runtime, with_thread_runtime};

/// Python callbacks registered with `on_rotate`, shared with the rotation hook.
struct Callbacks {
    list: Py<PyList>,
    count: AtomicUsize,
}

type RotateEvent = (Arc<Callbacks>, String, String);

/// One thread for the whole process calls the Python rotation callbacks, in order. The Rust
/// hook only queues the event: it runs while the core holds its store's write lock, so it must
/// neither wait for the GIL nor run Python code that could call back into the client.
/// One per process generation: a forked child starts its own thread (the parent's is not there).
fn dispatcher() -> Arc<mpsc::Sender<RotateEvent>> {
    static TX: PerGeneration<mpsc::Sender<RotateEvent>> = PerGeneration::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<RotateEvent>();
        std::thread::Builder::new()
            .name("keyswap-on-rotate".into())
            .spawn(move || {
                while let Ok(event) = rx.recv() {
                    let attached = Python::try_attach(move |py| {
                        let (callbacks, old, new) = event;
                        let snapshot: Vec<_> = callbacks.list.bind(py).iter().collect();
                        for cb in snapshot {
                            if let Err(err) = cb.call1((old.as_str(), new.as_str())) {
                                err.write_unraisable(py, Some(&cb));
                            }
                        }
                    });
                    if attached.is_none() {
                        break; // the interpreter is shutting down
                    }
                }
            })
            .expect("cannot start the keyswap-on-rotate thread");
        tx
    })
}

pub(crate) struct Inner {
    client: RwLock<Option<keyswap::Client>>,
    /// The settings of the client's `reqwest::Client`, from which each calling thread of the
    /// blocking `Client` builds its own (see `SyncRuntime`); dropped on `close`, which lets the
    /// threads drop theirs.
    http_config: RwLock<Option<Arc<HttpConfig>>>,
    callbacks: Arc<Callbacks>,
    repr_fields: String,
    /// The client's `max_redirects`: 0 means redirects are returned as they are.
    max_redirects: usize,
    /// With `cert=`: blocking requests run on the shared runtime, through the identity's own
    /// pool (one per certificate), not through per-thread pools.
    mtls: bool,
}

thread_local! {
    /// Set while `AsyncClient.create` constructs its client: the constructor then only checks
    /// and converts its arguments, and leaves the build (the HTTP client's TLS setup, the
    /// first load) in `DEFERRED` for `create` to run on the runtime.
    static DEFER_BUILD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static DEFERRED: std::cell::RefCell<Option<Deferred>> = const { std::cell::RefCell::new(None) };
}

/// A client's build left for later: its builder, and the settings of its HTTP client.
type Deferred = (keyswap::ClientBuilder, Arc<HttpConfig>);

thread_local! {}

/// A request converted from Python arguments, ready to go without the GIL.
struct Prepared {
    client: keyswap::Client,
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Body,
    timeout: Option<Duration>,
    /// This request's redirect limit (`follow_redirects=`); `None`: the client's.
    max_redirects: Option<usize>,
    /// `stream=True`: the body is not read before the response is returned.
    stream: bool,
    /// The blocking `Client`'s `stream=True` request: the runtime its connection lives on,
    /// where the body is read later. `None`: the shared runtime (`AsyncClient`).
    stream_rt: Option<Arc<SyncRuntime>>,
}

/// The constructor arguments `Client` and `AsyncClient` share (see `client_class!`).
struct Options<'a, 'py> {
    source: Option<&'a Bound<'py, PyAny>>,
    cert: Option<&'a Bound<'py, PyAny>>,
    verify: Option<&'a Bound<'py, PyAny>>,
    auth: Option<&'a Bound<'py, PyAny>>,
    base_url: Option<String>,
    allow_origins: Option<Vec<String>>,
    allow_insecure_http: bool,
    retry_on_status: Option<Vec<u16>>,
    overlap_window: f64,
    propagation_hold: f64,
    probe_interval: f64,
    await_rotation: f64,
    load_timeout: f64,
    max_redirects: usize,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    read_timeout: Option<f64>,
    headers: Option<&'a Bound<'py, PyAny>>,
    on_rotate: Option<&'a Bound<'py, PyAny>>,
    sync_clock: bool,
}

impl Inner {
    fn build(py: Python<'_>, o: Options<'_, '_>) -> PyResult<Inner> {
        let source = o
            .source
            .filter(|s| !s.is_none())
            .map(source_of)
            .transpose()?;
        let identity = crate::mtls::identity_of(o.cert)?;
        let trust = crate::mtls::trust_of(o.verify)?;
        if trust.is_some() && identity.is_none() {
            return Err(config_error(
                "verify= (a CA bundle) is used with cert= (a client certificate)",
            ));
        }
        if source.is_none() && identity.is_none() {
            return Err(config_error(
                "a source is required (or cert= for a client that authenticates with its certificate only)",
            ));
        }
        let (auth, auth_repr) = match (&source, o.auth) {
            (None, None) => (keyswap::Auth::none(), "none".to_owned()),
            _ => auth_of(o.auth)?,
        };
        // The core's rule checks the statuses; without any, its default applies (401, and
        // 403 too with a client certificate).
        let rejection = o
            .retry_on_status
            .map(|statuses| {
                keyswap::RejectionPolicy::statuses(&statuses)
                    .map_err(|e| config_error(format!("retry_on_status: {}", message(&e))))
            })
            .transpose()?;
        let source_name = source.as_ref().map(|s| s.name());

        let mut default_headers = convert::headers(o.headers)?;
        if !default_headers.contains_key(USER_AGENT) {
            default_headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("keyswap-python/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let http_config = Arc::new(HttpConfig {
            default_headers,
            timeout: opt_seconds("timeout", o.timeout)?,
            connect_timeout: opt_seconds("connect_timeout", o.connect_timeout)?,
            read_timeout: opt_seconds("read_timeout", o.read_timeout)?,
        });

        let callbacks = Arc::new(Callbacks {
            list: PyList::empty(py).unbind(),
            count: AtomicUsize::new(0),
        });
        if let Some(cb) = o.on_rotate.filter(|o| !o.is_none()) {
            let list = callbacks.list.bind(py);
            if cb.is_callable() {
                list.append(cb)?;
            } else {
                for item in cb.try_iter()? {
                    let item = item?;
                    if !item.is_callable() {
                        return Err(PyTypeError::new_err(
                            "on_rotate takes a callable or a list of callables",
                        ));
                    }
                    list.append(item)?;
                }
            }
            callbacks.count.store(list.len(), Ordering::Release);
        }
        let hook_callbacks = Arc::clone(&callbacks);

        let mut builder = keyswap::Client::builder();
        if let Some(source) = source {
            builder = builder.source(source);
        }
        let mtls = identity.is_some();
        if let Some(identity) = identity {
            builder = builder
                .identity(identity)
                .tls_http(crate::mtls::configure(&http_config));
        }
        if let Some(trust) = trust {
            builder = builder.trust(trust);
        }
        let mut builder = builder
            .auth(auth)
            .allow_insecure_http(o.allow_insecure_http)
            .rotation_policy(
                keyswap::RotationPolicy::default()
                    .overlap_window(seconds("overlap_window", o.overlap_window)?)
                    .propagation_hold(seconds("propagation_hold", o.propagation_hold)?)
                    .probe_interval(seconds("probe_interval", o.probe_interval)?)
                    .await_rotation(seconds("await_rotation", o.await_rotation)?),
            )
            .load_timeout(seconds("load_timeout", o.load_timeout)?)
            .max_redirects(o.max_redirects)
            .sync_clock(o.sync_clock)
            .on_rotate(move |rotation| {
                if hook_callbacks.count.load(Ordering::Acquire) > 0 {
                    let _ = dispatcher().send((
                        Arc::clone(&hook_callbacks),
                        rotation.old_version.clone(),
                        rotation.new_version.clone(),
                    ));
                }
            });
        if let Some(policy) = rejection {
            builder = builder.rejection_policy(policy);
        }
        let mut shown_base = None;
        if let Some(url) = &o.base_url {
            shown_base = Some(redacted_url_str(url));
            builder = builder.base_url(url.clone());
        }
        for origin in o.allow_origins.unwrap_or_default() {
            builder = builder.allow_origin(origin);
        }
        let client = if DEFER_BUILD.get() {
            DEFERRED.set(Some((builder, Arc::clone(&http_config))));
            None
        } else {
            let main = is_main_thread(py);
            let builder = builder.http_client(build_http(&http_config)?);
            Some(
                py.detach(|| runtime().block_on(interruptible(builder.build(), main)))?
                    .map_err(to_py)?,
            )
        };
        let mut repr_fields = match (&source_name, &client) {
            (Some(name), _) => format!("source={name:?} auth={auth_repr}"),
            (None, Some(client)) => format!("source={:?} auth={auth_repr}", client.source_name()),
            (None, None) => format!("auth={auth_repr}"),
        };
        if let Some(version) = client.as_ref().and_then(|c| c.identity_version()) {
            repr_fields.push_str(&format!(" cert={version:?}"));
        }
        if let Some(base) = shown_base {
            repr_fields.push_str(&format!(" base_url={base:?}"));
        }
        Ok(Inner {
            client: RwLock::new(client),
            http_config: RwLock::new(Some(http_config)),
            callbacks,
            repr_fields,
            max_redirects: o.max_redirects,
            mtls,
        })
    }

    fn client(&self) -> PyResult<keyswap::Client> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(closed_error)
    }

    fn close(&self) {
        let taken = self
            .client
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(taken);
        let config = self
            .http_config
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(config);
    }

    fn repr(&self, class: &str) -> String {
        match &*self.client.read().unwrap_or_else(|p| p.into_inner()) {
            Some(c) => format!(
                "<keyswap.{class} {} credential={:?}>",
                self.repr_fields,
                c.credential_version()
            ),
            None => format!("<keyswap.{class} {} closed>", self.repr_fields),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        method: &str,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        extra: Extra<'_, '_>,
    ) -> PyResult<Prepared> {
        let method = parse_method(method)?;
        // The core follows redirects itself (each hop decides whether the credential goes
        // along); `follow_redirects` sets this request's limit: False returns the 3xx as is,
        // True follows with the client's limit, or the core's default when the client's is 0.
        let max_redirects = match extra.follow_redirects {
            None => None,
            Some(false) => Some(0),
            Some(true) if self.max_redirects == 0 => {
                Some(keyswap::ClientBuilder::DEFAULT_MAX_REDIRECTS)
            }
            Some(true) => None,
        };
        let mut headers = convert::headers(headers)?;
        if let Some(cookies) = extra.cookies.filter(|o| !o.is_none()) {
            convert::cookies(cookies, &mut headers)?;
        }
        let body = match extra.files.filter(|o| !o.is_none()) {
            Some(files) => {
                if json.is_some_and(|j| !j.is_none()) {
                    return Err(config_error("pass either json= or files=, not both"));
                }
                convert::multipart(files, data)?
            }
            None => convert::body(json, data)?,
        };
        Ok(Prepared {
            method,
            url: url.to_owned(),
            query: convert::params(params, "params")?,
            headers,
            body,
            timeout: opt_seconds("timeout", timeout)?,
            max_redirects,
            stream: extra.stream,
            stream_rt: None,
            client: self.client()?,
        })
    }

    fn on_rotate<'py>(&self, callback: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err("on_rotate needs a callable"));
        }
        let list = self.callbacks.list.bind(callback.py());
        list.append(&callback)?;
        self.callbacks.count.store(list.len(), Ordering::Release);
        Ok(callback)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let client = self.client()?;
        let s = client.stats();
        let d = PyDict::new(py);
        d.set_item("requests", s.requests)?;
        d.set_item("auth_failures", s.auth_failures)?;
        d.set_item("retries", s.retries)?;
        d.set_item("refreshes", s.refreshes)?;
        d.set_item("rotations", s.rotations)?;
        d.set_item("fallbacks", s.fallbacks)?;
        d.set_item("rotation_waits", s.rotation_waits)?;
        d.set_item("source_errors", s.source_errors)?;
        d.set_item("probes", s.probes)?;
        d.set_item("resigns", s.resigns)?;
        d.set_item("background_failures", s.background_failures)?;
        if let Some(t) = client.tls_stats() {
            let tls = PyDict::new(py);
            tls.set_item("handshakes", t.handshakes)?;
            tls.set_item("identity_rotations", t.identity_rotations)?;
            tls.set_item("identity_rejections", t.identity_rejections)?;
            tls.set_item("identity_errors", t.identity_errors)?;
            tls.set_item("generations", t.generations)?;
            tls.set_item("trust_rotations", t.trust_rotations)?;
            d.set_item("tls", tls)?;
        }
        Ok(d)
    }
}

/// The httpx-style per-request arguments beyond the basic ones.
struct Extra<'a, 'py> {
    stream: bool,
    cookies: Option<&'a Bound<'py, PyAny>>,
    follow_redirects: Option<bool>,
    files: Option<&'a Bound<'py, PyAny>>,
}

/// The `reqwest::Client` a keyswap client is built with (TLS setup: milliseconds).
fn build_http(config: &HttpConfig) -> PyResult<keyswap::reqwest::Client> {
    config
        .build()
        .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))
}

/// A `source=` argument: a :class:`Source`, or a configuration string parsed by the core's
/// `Source::parse` (its errors never repeat values from the string).
fn source_of(obj: &Bound<'_, PyAny>) -> PyResult<keyswap::Source> {
    if let Ok(s) = obj.cast::<PyString>() {
        return keyswap::Source::parse(&s.to_cow()?).map_err(to_py);
    }
    if let Ok(s) = obj.cast::<Source>() {
        return Ok(s.get().inner.clone());
    }
    Err(PyTypeError::new_err(
        "source must be a keyswap.Source or a source string such as \
         'file:///run/secrets/api_key' or 'env:API_KEY'",
    ))
}

type AuthParts = (keyswap::Auth, String);

/// An `auth=` argument: an :class:`Auth`, an auth string parsed by the core's `Auth::parse`,
/// or `None` (bearer).
fn auth_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<AuthParts> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok((keyswap::Auth::bearer(), "Bearer()".to_owned()));
    };
    if let Ok(s) = obj.cast::<PyString>() {
        let auth = keyswap::Auth::parse(&s.to_cow()?).map_err(to_py)?;
        let repr = format!("{auth:?}");
        return Ok((auth, repr));
    }
    if let Ok(a) = obj.cast::<Auth>() {
        let a = a.get();
        return Ok((a.inner.clone(), a.__repr__()));
    }
    Err(PyTypeError::new_err(
        "auth must be a keyswap.Auth or an auth string such as 'header:X-API-Key' or 'bearer'",
    ))
}

const ENV_SOURCE: &str = "KEYSWAP_SOURCE";
const ENV_AUTH: &str = "KEYSWAP_AUTH";
const ENV_BASE_URL: &str = "KEYSWAP_BASE_URL";

/// A variable of the environment; blank counts as unset (as in the core's `from_env`).
fn env_var(name: &str) -> PyResult<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(config_error(format!("{name} is not valid UTF-8")))
        }
    }
}

/// `Client.from_env(**overrides)` / `AsyncClient.from_env(**overrides)`: the constructor with
/// `source`, `auth` and `base_url` from `KEYSWAP_SOURCE`, `KEYSWAP_AUTH` and
/// `KEYSWAP_BASE_URL` unless given as keywords.
fn client_from_env<'py>(
    cls: &Bound<'py, PyType>,
    overrides: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = match overrides {
        Some(d) => d.copy()?,
        None => PyDict::new(py),
    };
    let overridden = |k: &str| kwargs.contains(k);
    for (var, arg) in [("KEYSWAP_CERT", "cert"), ("KEYSWAP_VERIFY", "verify")] {
        if !overridden(arg)? {
            if let Some(value) = env_var(var)? {
                kwargs.set_item(arg, value)?;
            }
        }
    }
    let with_cert = overridden("cert")?;
    if !overridden("source")? && !overridden("auth")? && !overridden("base_url")? {
        // Everything from the environment: the core checks it, with its messages (they name
        // the variable and the part that is wrong, never the value).
        drop(keyswap::Client::from_env().map_err(to_py)?);
    }
    // With a client certificate the key source is optional.
    let source_needed = !(with_cert && env_var(ENV_SOURCE)?.is_none());
    if !overridden("source")? && source_needed {
        let source = env_var(ENV_SOURCE)?.ok_or_else(|| {
            config_error(format!(
                "{ENV_SOURCE} is not set: set it to a source string such as \
                 file:///run/secrets/api_key or env:API_KEY"
            ))
        })?;
        keyswap::Source::parse(&source)
            .map_err(|e| config_error(format!("{ENV_SOURCE}: {}", message(&e))))?;
        kwargs.set_item("source", source)?;
    }
    if !overridden("auth")? {
        if let Some(auth) = env_var(ENV_AUTH)? {
            keyswap::Auth::parse(&auth)
                .map_err(|e| config_error(format!("{ENV_AUTH}: {}", message(&e))))?;
            kwargs.set_item("auth", auth)?;
        }
    }
    if !overridden("base_url")? {
        if let Some(base) = env_var(ENV_BASE_URL)? {
            let base = base.trim();
            let ok = Url::parse(base).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(config_error(format!(
                    "{ENV_BASE_URL}: not a valid http or https URL"
                )));
            }
            kwargs.set_item("base_url", base)?;
        }
    }
    cls.call((), Some(&kwargs))
}

/// An HTTP method from its name, any case (no allocation for the usual upper-case names).
fn parse_method(method: &str) -> PyResult<Method> {
    let parsed = match method {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "HEAD" => Ok(Method::HEAD),
        "OPTIONS" => Ok(Method::OPTIONS),
        _ => Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
    };
    parsed.map_err(|_| config_error(format!("invalid HTTP method {method:?}")))
}

/// Shows a URL without password, query and fragment.
fn redacted_url_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Sends a prepared request through `http` (the calling thread's pool of the blocking
/// `Client`), or through the client's own `reqwest::Client` when `None`.
async fn send(p: Prepared, http: Option<&keyswap::reqwest::Client>) -> keyswap::Result<Response> {
    let method = p.method.as_str().to_owned();
    let mut b = p.client.request(p.method, &p.url);
    if !p.query.is_empty() {
        b = b.query(&p.query);
    }
    let mut headers = p.headers;
    match p.body {
        Body::None => {}
        Body::Bytes {
            bytes,
            content_type,
        } => {
            convert::default_content_type(&mut headers, content_type);
            b = b.body(bytes);
        }
        Body::Form(fields) => b = b.form(&fields),
        Body::Multipart {
            bytes,
            content_type,
        } => {
            if let Ok(ct) = HeaderValue::from_str(&content_type) {
                headers.insert(keyswap::reqwest::header::CONTENT_TYPE, ct);
            }
            b = b.body(bytes);
        }
    }
    if !headers.is_empty() {
        b = b.headers(headers);
    }
    if let Some(t) = p.timeout {
        b = b.timeout(t);
    }
    if let Some(max) = p.max_redirects {
        b = b.max_redirects(max);
    }
    let started = std::time::Instant::now();
    let resp = match http {
        Some(http) => b.send_with(http).await?,
        None => b.send().await?,
    };
    let status = resp.status().as_u16();
    let redirects = keyswap::redirects(&resp).to_vec();
    let version = match resp.version() {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    };
    // "Credential rejected" is the engine's verdict, reached when the response arrived (its
    // rejection policy and the exchange signer of the client's auth, body rules included).
    let rejected = keyswap::verdict(&resp) == keyswap::Rejection::Credential;
    let mut resp = resp;
    // The core has already removed a query-parameter credential from the response's URL.
    let url = resp.url().to_string();
    // Moved out, not copied: the body does not need them.
    let raw_headers = std::mem::take(resp.headers_mut());
    if p.stream {
        // The body stays with the connection until `iter_bytes`/`read` asks for it; the
        // signer's reading of the body (Kraken's HTTP 200 rejections) is not done then.
        return Ok(Response::new(
            status,
            raw_headers,
            url,
            version,
            Body2::Stream(Stream {
                resp,
                rt: p.stream_rt,
            }),
            rejected,
            method,
            started.elapsed(),
        )
        .with_redirects(&redirects));
    }
    let content = resp.bytes().await.map_err(keyswap::Error::from)?;
    Ok(Response::new(
        status,
        raw_headers,
        url,
        version,
        Body2::Read(content),
        rejected,
        method,
        started.elapsed(),
    )
    .with_redirects(&redirects))
}

/// An HTTP client that attaches the current credential to every request and keeps working while
/// the credential is rotated: on an authentication failure (401 by default) it re-reads the
/// source (one read shared by all threads), retries once with the new key, falls back to the
/// previous key inside ``overlap_window``, or waits up to ``await_rotation`` seconds for a new
/// one.
///
/// Rotation etiquette: while the server rejects the new key but still accepts the previous one
/// (it has not propagated the new key yet), requests stay on the previous key for up to
/// ``propagation_hold`` seconds (never past ``overlap_window``; 0 turns the hold off), and one
/// request per ``probe_interval`` seconds tries the new key meanwhile; the first time it is
/// accepted, every request switches. This keeps the count of failed authentications (which
/// exchanges and gateways watch) to a few per rotation.
///
/// With an exchange signer (:class:`BinanceSigner`, :class:`KrakenSigner`, ...) as ``auth``,
/// every attempt is signed in Rust with the exchange's clock (learned from its time endpoint
/// when the client is built with ``base_url``, else before the first request, from its origin;
/// ``sync_clock=False`` skips that step; the clock is still kept current from ``Date`` headers
/// and re-learned when a timestamp is rejected) and a fresh nonce; a rejected timestamp or
/// nonce is signed again and retried once (counted in ``stats()["resigns"]``).
///
/// ``source`` is a :class:`Source` or a configuration string (``"file:///run/secrets/api_key"``,
/// ``"env:API_KEY"``, ``"vault+https://..."``); ``auth`` an :class:`Auth` or an auth string
/// (``"header:X-API-Key"``, ``"bearer"``, ``"query:api_key"``, ``"binance"``), both parsed by
/// the Rust core (a malformed string raises :class:`ConfigError` without repeating its
/// values). :meth:`from_env` reads them from ``KEYSWAP_SOURCE`` and ``KEYSWAP_AUTH``.
///
/// Requests run with the GIL released, on the calling thread (no hand-off to another thread);
/// one client is safe to share between threads. Use it as a context manager, or call
/// :meth:`close`.
#[pyclass(frozen, module = "keyswap")]
pub struct Client {
    inner: Inner,
}

/// The awaitable variant of :class:`Client` for asyncio: the same constructor and options; the
/// request methods and :meth:`refresh` return awaitables. Use ``async with``, or call
/// :meth:`aclose`.
#[pyclass(frozen, module = "keyswap")]
pub struct AsyncClient {
    inner: Inner,
}

impl Client {
    /// Sends a prepared request and waits for the response with the GIL released, on the
    /// calling thread's runtime, through its own pool (see `SyncRuntime`).
    fn dispatch(py: Python<'_>, inner: &Inner, mut request: Prepared) -> PyResult<Response> {
        if inner.mtls {
            // The identity's pool lives on the shared runtime (see `Inner::mtls`).
            let main = is_main_thread(py);
            return py
                .detach(move || runtime().block_on(interruptible(send(request, None), main)))?
                .map_err(to_py);
        }
        let config = inner
            .http_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(closed_error)?;
        let main = is_main_thread(py);
        crate::runtime::watch_thread_end(py);
        py.detach(move || {
            with_thread_runtime(|rt| {
                let http = rt.pool(&config).map_err(keyswap::Error::from);
                let http = match http {
                    Ok(http) => http,
                    Err(e) => return Ok(Err(e)),
                };
                if request.stream {
                    request.stream_rt = Some(Arc::clone(rt));
                }
                // On the main thread a signal handler (Ctrl-C) gets to run while it waits.
                rt.block_on(interruptible(send(request, Some(&http)), main))
            })
        })
        .map_err(|err| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot start keyswap's runtime on this thread: {err}"
            ))
        })??
        .map_err(to_py)
    }
}

impl AsyncClient {
    /// Sends a prepared request on the shared runtime, through that runtime's pool for this
    /// client; returns an asyncio future of the response, completed on the loop's thread (see
    /// `bridge`).
    fn dispatch<'py>(
        py: Python<'py>,
        inner: &Inner,
        request: Prepared,
    ) -> PyResult<Bound<'py, PyAny>> {
        let config = inner
            .http_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(closed_error)?;
        if inner.mtls {
            // The identity's own pool (one per certificate), through the client's transport.
            return crate::bridge::spawn(py, async move {
                crate::bridge::response(send(request, None).await)
            });
        }
        // The runtime's own pool for this client: a forked child's is new, never the parent's.
        let http = runtime()
            .pool(&config)
            .map_err(|e| to_py(keyswap::Error::from(e)))?;
        crate::bridge::spawn(py, async move {
            crate::bridge::response(send(request, Some(&http)).await)
        })
    }
}

/// The docstring of a per-verb request method: `Client.get` sends "a GET request",
/// `AsyncClient.get` is an "Awaitable GET".
macro_rules! verb_doc {
    (Client, $article:literal, $verb:literal) => {
        concat!(
            "Sends ",
            $article,
            " ",
            $verb,
            " request; see :meth:`request`."
        )
    };
    (AsyncClient, $article:literal, $verb:literal) => {
        concat!("Awaitable ", $verb, "; see :meth:`request`.")
    };
}

/// The `#[pymethods]` block of `Client` or `AsyncClient`. PyO3 allows one such block per class
/// and expands no macros inside it, so the block is generated whole: the constructor, the request
/// methods (`request` and one per verb) and the accessors both classes share are written once
/// here; the invocation names the class and what its request methods return (through the class's
/// `dispatch`), gives the docstrings that differ between the classes, and adds the methods only
/// that class has.
macro_rules! client_class {
    (
        $class:ident -> $ret:ty;
        $(#[doc = $request_doc:literal])* request;
        $(#[doc = $stats_doc:literal])* stats;
        $(#[doc = $on_rotate_doc:literal])* on_rotate;
        $(#[doc = $closed_doc:literal])* closed;
        $($methods:tt)*
    ) => {
        client_class! {
            @impl $class -> $ret;
            [$($request_doc)*] [$($stats_doc)*] [$($on_rotate_doc)*] [$($closed_doc)*]
            with_body: [get "GET" "a"] [post "POST" "a"] [put "PUT" "a"] [patch "PATCH" "a"]
                [delete "DELETE" "a"];
            without_body: [head "HEAD" "a"] [options "OPTIONS" "an"];
            $($methods)*
        }
    };
    (
        @impl $class:ident -> $ret:ty;
        [$($request_doc:literal)*] [$($stats_doc:literal)*] [$($on_rotate_doc:literal)*]
        [$($closed_doc:literal)*]
        with_body: $([$verb:ident $name:literal $article:literal])*;
        without_body: $([$bodiless:ident $bodiless_name:literal $bodiless_article:literal])*;
        $($methods:tt)*
    ) => {
        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = (source=None, auth=None, base_url=None, *, cert=None, verify=None, allow_origins=None,
                allow_insecure_http=false, retry_on_status=None, overlap_window=30.0,
                propagation_hold=30.0, probe_interval=0.2, await_rotation=1.0, load_timeout=5.0, max_redirects=10, timeout=None,
                connect_timeout=5.0, read_timeout=5.0, headers=None, on_rotate=None, sync_clock=true))]
            #[allow(clippy::too_many_arguments)]
            fn new(
                py: Python<'_>,
                source: Option<&Bound<'_, PyAny>>,
                auth: Option<&Bound<'_, PyAny>>,
                base_url: Option<String>,
                cert: Option<&Bound<'_, PyAny>>,
                verify: Option<&Bound<'_, PyAny>>,
                allow_origins: Option<Vec<String>>,
                allow_insecure_http: bool,
                retry_on_status: Option<Vec<u16>>,
                overlap_window: f64,
                propagation_hold: f64,
                probe_interval: f64,
                await_rotation: f64,
                load_timeout: f64,
                max_redirects: usize,
                timeout: Option<f64>,
                connect_timeout: Option<f64>,
                read_timeout: Option<f64>,
                headers: Option<&Bound<'_, PyAny>>,
                on_rotate: Option<&Bound<'_, PyAny>>,
                sync_clock: bool,
            ) -> PyResult<Self> {
                let options = Options {
                    source, cert, verify, auth, base_url, allow_origins, allow_insecure_http, retry_on_status,
                    overlap_window, propagation_hold, probe_interval, await_rotation,
                    load_timeout, max_redirects, timeout,
                    connect_timeout, read_timeout, headers, on_rotate, sync_clock,
                };
                Ok(Self { inner: Inner::build(py, options)? })
            }

            $(#[doc = $request_doc])*
            #[pyo3(signature = (method, url, *, params=None, headers=None, json=None, data=None,
                timeout=None, stream=false, cookies=None, follow_redirects=None, files=None))]
            #[allow(clippy::too_many_arguments)]
            fn request<'py>(
                &self,
                py: Python<'py>,
                method: &str,
                url: &str,
                params: Option<&Bound<'_, PyAny>>,
                headers: Option<&Bound<'_, PyAny>>,
                json: Option<&Bound<'_, PyAny>>,
                data: Option<&Bound<'_, PyAny>>,
                timeout: Option<f64>,
                stream: bool,
                cookies: Option<&Bound<'_, PyAny>>,
                follow_redirects: Option<bool>,
                files: Option<&Bound<'_, PyAny>>,
            ) -> $ret {
                let extra = Extra { stream, cookies, follow_redirects, files };
                let prepared = self
                    .inner
                    .prepare(method, url, params, headers, json, data, timeout, extra)?;
                Self::dispatch(py, &self.inner, prepared)
            }

            $(
                #[doc = verb_doc!($class, $article, $name)]
                #[pyo3(signature = (url, *, params=None, headers=None, json=None, data=None,
                    timeout=None, stream=false, cookies=None, follow_redirects=None, files=None))]
                #[allow(clippy::too_many_arguments)]
                fn $verb<'py>(
                    &self,
                    py: Python<'py>,
                    url: &str,
                    params: Option<&Bound<'_, PyAny>>,
                    headers: Option<&Bound<'_, PyAny>>,
                    json: Option<&Bound<'_, PyAny>>,
                    data: Option<&Bound<'_, PyAny>>,
                    timeout: Option<f64>,
                    stream: bool,
                    cookies: Option<&Bound<'_, PyAny>>,
                    follow_redirects: Option<bool>,
                    files: Option<&Bound<'_, PyAny>>,
                ) -> $ret {
                    self.request(py, $name, url, params, headers, json, data, timeout, stream,
                        cookies, follow_redirects, files)
                }
            )*

            $(
                #[doc = verb_doc!($class, $bodiless_article, $bodiless_name)]
                #[pyo3(signature = (url, *, params=None, headers=None, timeout=None, stream=false,
                    cookies=None, follow_redirects=None))]
                #[allow(clippy::too_many_arguments)]
                fn $bodiless<'py>(
                    &self,
                    py: Python<'py>,
                    url: &str,
                    params: Option<&Bound<'_, PyAny>>,
                    headers: Option<&Bound<'_, PyAny>>,
                    timeout: Option<f64>,
                    stream: bool,
                    cookies: Option<&Bound<'_, PyAny>>,
                    follow_redirects: Option<bool>,
                ) -> $ret {
                    self.request(py, $bodiless_name, url, params, headers, None, None, timeout,
                        stream, cookies, follow_redirects, None)
                }
            )*

            $(#[doc = $stats_doc])*
            fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                self.inner.stats(py)
            }

            $(#[doc = $on_rotate_doc])*
            fn on_rotate<'py>(&self, callback: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
                self.inner.on_rotate(callback)
            }

            /// A snapshot of the client's health (:class:`Health`): ``state`` ``"fresh"``,
            /// ``"stale"`` (the source fails, the last good credential is still valid) or
            /// ``"failing"``, with ``credential_version``, ``last_success`` and
            /// ``failing_since`` (Unix seconds or ``None``) and ``last_error``. Cheap: no I/O.
            fn health(&self) -> PyResult<Health> {
                Ok(self.inner.client()?.health().into())
            }

            /// A client configured from the environment, as the Rust core's
            /// ``Client::from_env``: ``KEYSWAP_SOURCE`` (required, a source string),
            /// ``KEYSWAP_AUTH`` (optional, an auth string, default ``bearer``) and
            /// ``KEYSWAP_BASE_URL`` (optional). Blank counts as unset. Keyword arguments are
            /// passed to the constructor (``source``, ``auth`` and ``base_url`` given here
            /// override the variables). A bad value raises :class:`ConfigError` naming the
            /// variable, never its value.
            #[classmethod]
            #[pyo3(signature = (**overrides))]
            fn from_env<'py>(
                cls: &Bound<'py, PyType>,
                overrides: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                client_from_env(cls, overrides)
            }

            /// The version of the credential in use (never the key).
            #[getter]
            fn credential_version(&self) -> PyResult<String> {
                Ok(self.inner.client()?.credential_version())
            }

            /// The source's name (``file:/path``, ``env:NAME``, ...).
            #[getter]
            fn source_name(&self) -> PyResult<String> {
                Ok(self.inner.client()?.source_name().to_owned())
            }

            $(#[doc = $closed_doc])*
            #[getter]
            fn closed(&self) -> bool {
                self.inner.client().is_err()
            }

            fn __repr__(&self) -> String {
                self.inner.repr(stringify!($class))
            }

            $($methods)*
        }
    };
}

client_class! {
    Client -> PyResult<Response>;

    /// Sends a request with any method. ``url`` is absolute or relative to ``base_url``;
    /// ``params`` are appended to the query; ``json`` is serialized with ``json.dumps``;
    /// ``data`` is bytes/str (sent as is) or a mapping (sent as a form); ``timeout`` (seconds)
    /// bounds each attempt. ``follow_redirects``: ``None`` follows the client's
    /// ``max_redirects``, ``False`` returns a 3xx as it is, ``True`` follows redirects up to
    /// the client's ``max_redirects`` (10 when the client was built with 0); each hop decides
    /// again whether the credential goes along.
    request;

    /// A snapshot of the counters: ``requests``, ``auth_failures``, ``retries``,
    /// ``refreshes``, ``rotations``, ``fallbacks``, ``rotation_waits``, ``source_errors``,
    /// ``probes`` (requests that tried the new credential during a propagation hold),
    /// ``resigns`` (attempts an exchange signer signed again and retried once after the
    /// exchange rejected their timestamp or nonce), ``background_failures`` (panics caught in background work, which then resumed).
    stats;

    /// Registers ``callback(old_version, new_version)``, called after every rotation (versions,
    /// never keys). Callbacks run in order on a keyswap thread shortly after the rotation;
    /// exceptions go to ``sys.unraisablehook``. Returns ``callback`` (usable as a decorator).
    on_rotate;

    /// Whether :meth:`close` was called.
    closed;

    /// Re-loads the source now and returns the credential version in use afterwards. On a
    /// source error the current credential stays and :class:`SourceError` is raised.
    fn refresh(&self, py: Python<'_>) -> PyResult<String> {
        let client = self.inner.client()?;
        let main = is_main_thread(py);
        py.detach(move || runtime().block_on(interruptible(client.refresh(), main)))?
            .map_err(to_py)
    }

    /// Stops watching the source and releases the connection pool once in-flight requests end.
    /// Later requests raise :class:`ClientClosedError`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.close(py);
    }
}

client_class! {
    AsyncClient -> PyResult<Bound<'py, PyAny>>;

    /// Sends a request with any method; returns an awaitable of :class:`Response`. Arguments
    /// as for :meth:`Client.request`.
    request;

    /// A snapshot of the counters (a dict, as for :meth:`Client.stats`).
    stats;

    /// Registers ``callback(old_version, new_version)``, called after every rotation on a
    /// keyswap thread (not the event loop: use ``loop.call_soon_threadsafe`` to get back to
    /// it). Returns ``callback``.
    on_rotate;

    /// Whether the client was closed.
    closed;

    /// Re-loads the source now; awaitable of the credential version in use afterwards.
    fn refresh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.client()?;
        crate::bridge::spawn_value(py, async move { client.refresh().await.map_err(to_py) })
    }

    /// Builds the client without ever blocking the event loop: an awaitable of the client,
    /// ready (its first credential loaded, as the constructor does) — the constructor's
    /// arguments, the constructor's errors. ``AsyncClient(...)`` itself loads the first
    /// credential on the calling thread: inside a running loop, use ``await
    /// AsyncClient.create(...)``.
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs))]
    fn create<'py>(
        cls: &Bound<'py, PyType>,
        args: &Bound<'py, pyo3::types::PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        DEFER_BUILD.set(true);
        let made = cls.call(args, kwargs);
        DEFER_BUILD.set(false);
        let deferred = DEFERRED.take();
        let made = made?.cast_into::<AsyncClient>()?.unbind();
        let (builder, config) = deferred.ok_or_else(|| {
            PyTypeError::new_err("AsyncClient.create: the constructor did not run")
        })?;
        crate::bridge::spawn(py, async move {
            let built = match build_http(&config) {
                Ok(http) => builder.http_client(http).build().await.map_err(to_py),
                Err(e) => Err(e),
            };
            Box::new(move |_py: Python<'_>| {
                let client = built?;
                *made
                    .get()
                    .inner
                    .client
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Some(client);
                Ok(made.into_any())
            }) as crate::bridge::Outcome
        })
    }

    /// Closes the client (awaitable); later requests raise :class:`ClientClosedError`.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.detach(|| self.inner.close());
        crate::bridge::spawn_value(py, async { Ok(()) })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this: Py<Self> = slf.unbind();
        crate::bridge::spawn_value(py, async move { Ok(this) })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.aclose(py)
    }
}
