//! `Client` (blocking, GIL released while it waits) and `AsyncClient` (asyncio awaitables):
//! the Python classes, thin wrappers of one shared `Inner` around `keyswap::Client`. Where a
//! request runs is the only difference between them (`dispatch`).

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::client_options::{Construction, Options, build_http, constructing};
use crate::client_state::Inner;
use crate::errors::{no_runtime, to_py};
use crate::health::Health;
use crate::prepare::{Args, Prepared};
use crate::response::Response;
use crate::send::send;
use crate::shared_runtime::with_runtime;
use crate::signals::{interruptible, is_main_thread};
use crate::thread_runtime::{watch_thread_end, with_thread_runtime};

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
    /// calling thread's runtime, through its own pool (see `sync_runtime`).
    fn dispatch(py: Python<'_>, inner: &Inner, mut request: Prepared) -> PyResult<Response> {
        // On the main thread a signal handler (Ctrl-C) gets to run while it waits.
        let main = is_main_thread(py);
        if inner.mtls {
            // The identity's pool lives on the shared runtime (see `Inner::mtls`).
            return py
                .detach(move || {
                    with_runtime(|rt| rt.block_on(interruptible(send(request, None), main)))
                })??
                .map_err(to_py);
        }
        let config = inner.http_config()?;
        watch_thread_end(py);
        let sent = py.detach(move || {
            with_thread_runtime(|rt| {
                let http = match rt.pool(&config) {
                    Ok(http) => http,
                    Err(e) => return Ok(Err(e.into())),
                };
                if request.stream {
                    request.stream_rt = Some(Arc::clone(rt));
                }
                rt.block_on(interruptible(send(request, Some(&http)), main))
            })
        });
        // Outside in: no runtime for this thread, Ctrl-C, the request's own outcome.
        let sent = sent.map_err(|err| no_runtime("runtime on this thread", err))??;
        sent.map_err(to_py)
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
        let config = inner.http_config()?;
        if inner.mtls {
            // The identity's own pool (one per certificate), through the client's transport.
            return crate::bridge::spawn(py, async move {
                crate::bridge::response(send(request, None).await)
            });
        }
        // The runtime's own pool for this client: a forked child's is new, never the parent's.
        let http =
            with_runtime(|rt| rt.pool(&config))?.map_err(|e| to_py(keyswap::Error::from(e)))?;
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
                Ok(Self { inner: options.into_inner(py)? })
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
                let args = Args {
                    method, url, params, headers, json, data, timeout, stream, cookies,
                    follow_redirects, files,
                };
                Self::dispatch(py, &self.inner, Prepared::new(&self.inner, args)?)
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
                crate::stats::stats_dict(py, &self.inner.client()?)
            }

            $(#[doc = $on_rotate_doc])*
            fn on_rotate<'py>(&self, callback: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
                self.inner.callbacks.add(&callback)?;
                Ok(callback)
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
                crate::from_env::client_from_env(cls, overrides)
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
        py.detach(move || with_runtime(|rt| rt.block_on(interruptible(client.refresh(), main))))??
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
        let how = Construction {
            defer: true,
            ..Construction::default()
        };
        let (made, deferred) = constructing(how, || cls.call(args, kwargs));
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
                made.get().inner.set_client(built?);
                Ok(made.into_any())
            }) as crate::bridge::Outcome
        })
    }

    /// Closes the client (awaitable); later requests raise :class:`ClientClosedError`.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.detach(|| self.inner.close());
        crate::bridge::spawn_value(py, async { Ok(None::<()>) })
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
