//! `Request`: what a response answers, as httpx's ``response.request`` — method and URL only
//! (headers and body would carry the credential).

use pyo3::prelude::*;

use crate::redact::shown_url;

/// The request a :class:`Response` answers: its method and URL — the request as sent, before
/// any redirect (as httpx's ``response.request``; the final URL is ``response.url``); with
/// :class:`Query` auth without the credential parameter.
#[pyclass(frozen, module = "keyswap")]
pub struct Request {
    method: String,
    url: String,
}

impl Request {
    pub(crate) fn new(method: String, url: String) -> Request {
        Request { method, url }
    }
}

#[pymethods]
impl Request {
    /// ``"GET"``, ``"POST"``, ...
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// The URL (never with a query-parameter credential).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    fn __repr__(&self) -> String {
        format!("<Request({:?}, {:?})>", self.method, shown_url(&self.url))
    }
}
