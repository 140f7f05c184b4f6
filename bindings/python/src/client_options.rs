//! The constructor of `Client` and `AsyncClient`: its arguments turned into a
//! `keyswap::ClientBuilder` and the settings of the client's pools, then built — at once, or
//! left for `AsyncClient.create` to build on the runtime. Values the caller leaves out come
//! from the environment when `from_env` runs the constructor (`Construction::env`).

use std::cell::RefCell;
use std::sync::{Arc, RwLock};

use keyswap::reqwest::header::{HeaderValue, USER_AGENT};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::auth::Auth;
use crate::client_state::Inner;
use crate::convert::{self, opt_seconds, seconds};
use crate::errors::{config_error, message, to_py};
use crate::on_rotate::Callbacks;
use crate::pools::HttpConfig;
use crate::redact::shown_url;
use crate::shared_runtime::with_runtime;
use crate::signals::{interruptible, is_main_thread};
use crate::sources::Source;

/// The constructor arguments `Client` and `AsyncClient` share (see `client_class!`).
pub(crate) struct Options<'a, 'py> {
    pub(crate) source: Option<&'a Bound<'py, PyAny>>,
    pub(crate) cert: Option<&'a Bound<'py, PyAny>>,
    pub(crate) verify: Option<&'a Bound<'py, PyAny>>,
    pub(crate) auth: Option<&'a Bound<'py, PyAny>>,
    pub(crate) base_url: Option<String>,
    pub(crate) allow_origins: Option<Vec<String>>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) retry_on_status: Option<Vec<u16>>,
    pub(crate) overlap_window: f64,
    pub(crate) propagation_hold: f64,
    pub(crate) probe_interval: f64,
    pub(crate) await_rotation: f64,
    pub(crate) load_timeout: f64,
    pub(crate) max_redirects: usize,
    pub(crate) timeout: Option<f64>,
    pub(crate) connect_timeout: Option<f64>,
    pub(crate) read_timeout: Option<f64>,
    pub(crate) headers: Option<&'a Bound<'py, PyAny>>,
    pub(crate) on_rotate: Option<&'a Bound<'py, PyAny>>,
    pub(crate) sync_clock: bool,
}

/// How the constructor running on this thread was called, when not plainly.
#[derive(Default)]
pub(crate) struct Construction {
    /// `AsyncClient.create`: only check and convert the arguments, and leave the build (the
    /// HTTP client's TLS setup, the first load) for `create` to run on the runtime.
    pub(crate) defer: bool,
    /// `from_env`: the core's reading of the `KEYSWAP_*` variables, for what the caller left
    /// out.
    pub(crate) env: Option<keyswap::EnvConfig>,
}

/// A client's build left for later: its builder, and the settings of its HTTP client.
pub(crate) type Deferred = (keyswap::ClientBuilder, Arc<HttpConfig>);

thread_local! {
    static CONSTRUCTION: RefCell<Option<Construction>> = const { RefCell::new(None) };
    static DEFERRED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Runs `construct` (a call of the class) with `how` for the constructor it runs; returns its
/// result and, with `defer`, the build the constructor left.
pub(crate) fn constructing<R>(
    how: Construction,
    construct: impl FnOnce() -> R,
) -> (R, Option<Deferred>) {
    CONSTRUCTION.set(Some(how));
    let made = construct();
    // Not taken when the constructor failed before reading it.
    CONSTRUCTION.set(None);
    (made, DEFERRED.take())
}

/// The `reqwest::Client` a keyswap client is built with (TLS setup: milliseconds).
pub(crate) fn build_http(config: &HttpConfig) -> PyResult<keyswap::reqwest::Client> {
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

/// An `auth=` argument: an :class:`Auth` or an auth string parsed by the core's `Auth::parse`;
/// with what `repr` shows of it.
fn auth_of(obj: &Bound<'_, PyAny>) -> PyResult<(keyswap::Auth, String)> {
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

fn given<'a, 'py>(arg: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    arg.filter(|a| !a.is_none())
}

impl Options<'_, '_> {
    /// Checks and converts the arguments and builds the client (unless deferred).
    pub(crate) fn into_inner(self, py: Python<'_>) -> PyResult<Inner> {
        let how = CONSTRUCTION.take().unwrap_or_default();
        let env = how.env.unwrap_or_default();
        let source = match given(self.source) {
            Some(s) => Some(source_of(s)?),
            None => env.source,
        };
        let identity = crate::mtls::identity_of(self.cert)?.or(env.identity);
        let trust = crate::mtls::trust_of(self.verify)?.or(env.trust);
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
        let (auth, auth_repr) = match (given(self.auth), env.auth) {
            (Some(auth), _) => auth_of(auth)?,
            (None, Some(auth)) => {
                let repr = format!("{auth:?}");
                (auth, repr)
            }
            (None, None) if source.is_none() => (keyswap::Auth::none(), "none".to_owned()),
            (None, None) => (keyswap::Auth::bearer(), "Bearer()".to_owned()),
        };
        // The core's rule checks the statuses; without any, its default applies (401, and
        // 403 too with a client certificate).
        let rejection = self
            .retry_on_status
            .map(|statuses| {
                keyswap::RejectionPolicy::statuses(&statuses)
                    .map_err(|e| config_error(format!("retry_on_status: {}", message(&e))))
            })
            .transpose()?;
        let source_name = source.as_ref().map(|s| s.name());

        let mut default_headers = convert::headers(self.headers)?;
        if !default_headers.contains_key(USER_AGENT) {
            default_headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("keyswap-python/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let http_config = Arc::new(HttpConfig {
            default_headers,
            timeout: opt_seconds("timeout", self.timeout)?,
            connect_timeout: opt_seconds("connect_timeout", self.connect_timeout)?,
            read_timeout: opt_seconds("read_timeout", self.read_timeout)?,
        });
        let callbacks = Arc::new(Callbacks::new(py, self.on_rotate)?);

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
            .allow_insecure_http(self.allow_insecure_http)
            .rotation_policy(
                keyswap::RotationPolicy::default()
                    .overlap_window(seconds("overlap_window", self.overlap_window)?)
                    .propagation_hold(seconds("propagation_hold", self.propagation_hold)?)
                    .probe_interval(seconds("probe_interval", self.probe_interval)?)
                    .await_rotation(seconds("await_rotation", self.await_rotation)?),
            )
            .load_timeout(seconds("load_timeout", self.load_timeout)?)
            .max_redirects(self.max_redirects)
            .sync_clock(self.sync_clock)
            .on_rotate(callbacks.hook());
        if let Some(policy) = rejection {
            builder = builder.rejection_policy(policy);
        }
        let base_url = self.base_url.or(env.base_url);
        if let Some(url) = &base_url {
            builder = builder.base_url(url.clone());
        }
        for origin in self.allow_origins.unwrap_or_default() {
            builder = builder.allow_origin(origin);
        }
        let client = if how.defer {
            DEFERRED.set(Some((builder, Arc::clone(&http_config))));
            None
        } else {
            let main = is_main_thread(py);
            let builder = builder.http_client(build_http(&http_config)?);
            Some(
                py.detach(|| {
                    with_runtime(|rt| rt.block_on(interruptible(builder.build(), main)))
                })??
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
        if let Some(base) = &base_url {
            repr_fields.push_str(&format!(" base_url={:?}", shown_url(base)));
        }
        Ok(Inner {
            client: RwLock::new(client),
            http_config: RwLock::new(Some(http_config)),
            callbacks,
            repr_fields,
            max_redirects: self.max_redirects,
            mtls,
        })
    }
}
