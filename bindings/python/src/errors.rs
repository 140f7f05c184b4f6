//! The Python exception hierarchy and the mapping from `keyswap::Error` onto it.
//!
//! Classes are created at import with `type(name, bases, ns)` so that some can also subclass
//! built-in exceptions (`ValueError`, `ConnectionError`, `TimeoutError`).

use std::error::Error as StdError;

use pyo3::exceptions::{
    PyConnectionError, PyException, PyRuntimeError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pub(crate) struct Exceptions {
    pub keyswap: Py<PyType>,
    pub config: Py<PyType>,
    pub source: Py<PyType>,
    pub insecure: Py<PyType>,
    pub auth: Py<PyType>,
    pub sign: Py<PyType>,
    pub request: Py<PyType>,
    pub connect: Py<PyType>,
    pub redirect: Py<PyType>,
    pub timeout: Py<PyType>,
    pub status: Py<PyType>,
    pub rejected: Py<PyType>,
    pub closed: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

fn make(
    py: Python<'_>,
    name: &str,
    bases: &[&Bound<'_, PyType>],
    doc: &str,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "keyswap")?;
    ns.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let ty = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

fn create(py: Python<'_>) -> PyResult<Exceptions> {
    let exception = py.get_type::<PyException>();
    let value_error = py.get_type::<PyValueError>();
    let connection_error = py.get_type::<PyConnectionError>();
    let timeout_error = py.get_type::<PyTimeoutError>();
    let keyswap = make(
        py,
        "KeyswapError",
        &[&exception],
        "Base class of every error keyswap raises. Messages never contain key or secret \
         material, and URLs in them are shown without their query string.",
    )?;
    let k = keyswap.bind(py).clone();
    let config = make(
        py,
        "ConfigError",
        &[&k, &value_error],
        "Invalid configuration or arguments: a bad URL, header, duration or option. Also a \
         ValueError.",
    )?;
    let source = make(
        py,
        "SourceError",
        &[&k],
        "The credential source could not produce a valid credential (missing file or \
         variable, unparsable content, endpoint error). The message names the source.",
    )?;
    let insecure = make(
        py,
        "InsecureTransportError",
        &[&k],
        "The request was refused because it would send the credential over plain http:// to a \
         host that is not loopback. Pass allow_insecure_http=True to allow it.",
    )?;
    let auth = make(
        py,
        "AuthError",
        &[&k],
        "Authentication failed: the credential could not be attached (SignError), or the server \
         still rejects it after keyswap's refresh-and-retry (CredentialRejectedError, from \
         Response.raise_for_status()).",
    )?;
    let a = auth.bind(py).clone();
    let sign = make(
        py,
        "SignError",
        &[&a],
        "The credential could not be attached to the request: a Sign callback raised, or the key \
         cannot be placed in a header.",
    )?;
    let request = make(
        py,
        "RequestError",
        &[&k],
        "The HTTP exchange itself failed (connect, TLS, protocol, body).",
    )?;
    let r = request.bind(py).clone();
    let connect = make(
        py,
        "ConnectError",
        &[&r, &connection_error],
        "The connection could not be established. Also a built-in ConnectionError.",
    )?;
    let redirect = make(
        py,
        "RedirectError",
        &[&r],
        "A redirect could not be followed (too many hops, bad Location).",
    )?;
    let timeout = make(
        py,
        "RequestTimeoutError",
        &[&r, &timeout_error],
        "The request timed out (the per-request or client timeout). Also a built-in \
         TimeoutError.",
    )?;
    let status = make(
        py,
        "HTTPStatusError",
        &[&k],
        "Raised by Response.raise_for_status() for a status that is not 2xx (as httpx). \
         Attributes: response, request, status_code.",
    )?;
    let s = status.bind(py).clone();
    let rejected = make(
        py,
        "CredentialRejectedError",
        &[&a, &s],
        "Raised by Response.raise_for_status() when the client counts the response as \
         \"credential rejected\" (a status in its retry_on_status, 401 by default: the same \
         rule that starts keyswap's recover path) after keyswap already refreshed the \
         credential, retried, and waited for a rotation. Both an AuthError and an \
         HTTPStatusError.",
    )?;
    let closed = make(
        py,
        "ClientClosedError",
        &[&k],
        "The client was closed (close(), aclose() or the end of a with block).",
    )?;
    Ok(Exceptions {
        keyswap,
        config,
        source,
        insecure,
        auth,
        sign,
        request,
        connect,
        redirect,
        timeout,
        status,
        rejected,
        closed,
    })
}

pub(crate) fn exceptions(py: Python<'_>) -> &'static Exceptions {
    EXCEPTIONS
        .get_or_try_init(py, || create(py))
        .expect("creating keyswap's exception classes")
}

pub(crate) fn register(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    let e = EXCEPTIONS.get_or_try_init(py, || create(py))?;
    for ty in [
        &e.keyswap,
        &e.config,
        &e.source,
        &e.insecure,
        &e.auth,
        &e.sign,
        &e.request,
        &e.connect,
        &e.redirect,
        &e.timeout,
        &e.status,
        &e.rejected,
        &e.closed,
    ] {
        let ty = ty.bind(py);
        m.add(ty.name()?, ty)?;
    }
    Ok(())
}

/// A `ConfigError` (also a `ValueError`) with `msg`.
pub(crate) fn config_error(msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    Python::attach(|py| PyErr::from_type(exceptions(py).config.bind(py).clone(), msg))
}

/// A `RuntimeError` saying that keyswap's `which` (runtime) could not be started, and why (the
/// OS refused it file descriptors or threads); the next call tries again.
pub(crate) fn no_runtime(which: &str, err: std::io::Error) -> PyErr {
    PyRuntimeError::new_err(format!("cannot start keyswap's {which}: {err}"))
}

pub(crate) fn closed_error() -> PyErr {
    Python::attach(|py| {
        PyErr::from_type(
            exceptions(py).closed.bind(py).clone(),
            "the client is closed",
        )
    })
}

/// The message of a keyswap error with its whole cause chain (keyswap's `Display` shows only
/// its own message; reqwest's hides the underlying I/O error). keyswap's messages and
/// reqwest's redacted URLs carry no secrets.
pub(crate) fn message(err: &keyswap::Error) -> String {
    let mut msg = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

/// Maps a keyswap error onto the exception hierarchy.
pub(crate) fn to_py(err: keyswap::Error) -> PyErr {
    Python::attach(|py| {
        let e = exceptions(py);
        let ty = if err.is_builder() {
            &e.config
        } else if err.is_source() {
            &e.source
        } else if err.is_insecure() {
            &e.insecure
        } else if err.is_sign() {
            &e.sign
        } else if err.is_redirect() {
            &e.redirect
        } else if err.is_timeout() {
            &e.timeout
        } else if err.is_connect() {
            &e.connect
        } else if err.is_request() {
            &e.request
        } else {
            &e.keyswap
        };
        PyErr::from_type(ty.bind(py).clone(), message(&err))
    })
}
