//! How the credential is attached: wrappers of `keyswap::Auth`.

use std::sync::{Arc, Mutex};

use keyswap::reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::config_error;
use crate::sources::Credential;

/// Base class of the ways a credential is attached to requests: :class:`Header`,
/// :class:`Bearer`, :class:`Query`, :class:`Basic`, :class:`Sign`, and the exchange signers
/// :class:`BinanceSigner`, :class:`KrakenSigner`, :class:`CoinbaseSigner`, :class:`OkxSigner`,
/// :class:`BybitSigner`, :class:`HmacSigner`.
#[pyclass(subclass, frozen, module = "keyswap")]
pub struct Auth {
    pub(crate) inner: keyswap::Auth,
    repr: String,
}

#[pymethods]
impl Auth {
    pub(crate) fn __repr__(&self) -> String {
        self.repr.clone()
    }
}

fn auth(inner: keyswap::Auth, repr: String) -> PyClassInitializer<Auth> {
    PyClassInitializer::from(Auth { inner, repr })
}

/// The base of an exchange signer: `keyswap::Auth::signer(..)`. The client's core classifies
/// responses with it (`keyswap::Client::classify`), as for a signer given as an auth string.
pub(crate) fn signer_auth(
    signer: impl keyswap::sign::Signer,
    repr: String,
) -> PyClassInitializer<Auth> {
    auth(keyswap::Auth::signer(signer), repr)
}

/// The key as the value of header ``name`` (e.g. ``X-API-Key``).
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct Header;

#[pymethods]
impl Header {
    #[new]
    fn new(name: &str) -> PyResult<PyClassInitializer<Self>> {
        let header =
            keyswap::Auth::try_header(name).map_err(|err| config_error(err.to_string()))?;
        Ok(auth(header, format!("Header({name:?})")).add_subclass(Header))
    }
}

/// ``Authorization: Bearer <key>``; the default when a client is given no ``auth``.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct Bearer;

#[pymethods]
impl Bearer {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        auth(keyswap::Auth::bearer(), "Bearer()".into()).add_subclass(Bearer)
    }
}

/// The key as query parameter ``name`` (e.g. ``api_key``). The keyswap core removes the
/// parameter from ``Response.url`` (other parameters are kept) and the query string from URLs
/// in errors.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct Query;

#[pymethods]
impl Query {
    #[new]
    fn new(name: String) -> PyResult<PyClassInitializer<Self>> {
        if name.is_empty() {
            return Err(config_error("the query parameter name is empty"));
        }
        let repr = format!("Query({name:?})");
        Ok(auth(keyswap::Auth::query(name), repr).add_subclass(Query))
    }
}

/// HTTP basic auth: ``user`` as the user name, the key as the password.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct Basic;

#[pymethods]
impl Basic {
    #[new]
    fn new(user: String) -> PyClassInitializer<Self> {
        let repr = format!("Basic({user:?})");
        auth(keyswap::Auth::basic(user), repr).add_subclass(Basic)
    }
}

/// A signer of your own, for HMAC schemes of exchange APIs and the like:
/// ``callback(request: SigningRequest, credential: Credential) -> None`` is called on every
/// attempt (a retry after a rotation is signed again, with the new credential) and changes the
/// request through ``request.set_header(...)`` / ``request.add_query_param(...)``.
///
/// It runs holding the GIL, on the calling thread for :class:`Client`, and for
/// :class:`AsyncClient` on a runtime worker that first hands its other tasks to another worker
/// (a slow callback delays only its own request): keep it short. An exception it raises fails
/// the request with :class:`SignError`.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct Sign;

#[pymethods]
impl Sign {
    #[new]
    fn new(callback: &Bound<'_, PyAny>) -> PyResult<PyClassInitializer<Self>> {
        if !callback.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "Sign needs a callable",
            ));
        }
        let callback = Arc::new(callback.clone().unbind());
        let inner = keyswap::Auth::sign(move |req, cred| sign(&callback, req, cred));
        Ok(auth(inner, "Sign(..)".into()).add_subclass(Sign))
    }
}

type SignResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn sign(
    callback: &Py<PyAny>,
    req: &mut keyswap::reqwest::Request,
    cred: &keyswap::Credential,
) -> SignResult {
    let signing = SigningRequest {
        method: req.method().as_str().to_owned(),
        body: req.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec),
        state: Mutex::new((req.url().clone(), req.headers().clone())),
    };
    let call = || {
        Python::try_attach(|py| -> Result<_, String> {
            let signing = Bound::new(py, signing).map_err(|e| e.to_string())?;
            let cred = Bound::new(
                py,
                Credential {
                    inner: cred.clone(),
                },
            )
            .map_err(|e| e.to_string())?;
            callback.call1(py, (&signing, cred)).map_err(|e| {
                let ty = e
                    .get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                format!("Sign callback raised {ty}: {msg}")
            })?;
            let state = signing
                .get()
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            Ok(state)
        })
    };
    // On a worker of the shared multi-thread runtime (an `AsyncClient` request), waiting for
    // the GIL and running the callback would hold up every task queued on that worker: hand
    // them to another worker first. (The blocking `Client` signs on the caller's own thread.)
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let state = if on_worker {
        tokio::task::block_in_place(call)
    } else {
        call()
    };
    let state = state.ok_or("the Python interpreter is shutting down")??;
    *req.url_mut() = state.0;
    *req.headers_mut() = state.1;
    Ok(())
}

/// The request a :class:`Sign` callback sees and changes: method, URL (with query), headers,
/// body. Changes made with :meth:`set_header` and :meth:`add_query_param` go out with the
/// request.
#[pyclass(frozen, module = "keyswap")]
pub struct SigningRequest {
    method: String,
    body: Option<Vec<u8>>,
    state: Mutex<(keyswap::reqwest::Url, HeaderMap)>,
}

impl SigningRequest {
    fn state(&self) -> std::sync::MutexGuard<'_, (keyswap::reqwest::Url, HeaderMap)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl SigningRequest {
    /// The method (``GET``, ``POST``, ...).
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// The full URL, with the query as it is now.
    #[getter]
    fn url(&self) -> String {
        self.state().0.to_string()
    }

    /// The path of the URL.
    #[getter]
    fn path(&self) -> String {
        self.state().0.path().to_owned()
    }

    /// The query string as it is now (without ``?``), ``""`` when there is none.
    #[getter]
    fn query(&self) -> String {
        self.state().0.query().unwrap_or_default().to_owned()
    }

    /// The body, ``b""`` when there is none.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.body.as_deref().unwrap_or_default())
    }

    /// A copy of the headers as a dict (lower-case names).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.state().1 {
            dict.set_item(name.as_str(), String::from_utf8_lossy(value.as_bytes()))?;
        }
        Ok(dict)
    }

    /// Sets header ``name`` (replacing it). The value is marked sensitive.
    fn set_header(&self, name: &str, value: &str) -> PyResult<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| config_error(format!("invalid header name {name:?}")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| config_error(format!("invalid value for header {name} (not shown)")))?;
        value.set_sensitive(true);
        self.state().1.insert(name, value);
        Ok(())
    }

    /// Appends ``name=value`` to the query string.
    fn add_query_param(&self, name: &str, value: &str) {
        self.state().0.query_pairs_mut().append_pair(name, value);
    }

    fn __repr__(&self) -> String {
        let state = self.state();
        format!("<SigningRequest {} {}>", self.method, state.0.path())
    }
}
