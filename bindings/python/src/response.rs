//! `Response` and its case-insensitive `Headers`.

use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};

use keyswap::reqwest::header::{CONTENT_TYPE, HeaderMap};

use crate::errors::exceptions;

/// Response headers: a read-only, case-insensitive mapping. A name sent several times maps to
/// its values joined by ``", "``; :meth:`get_list` returns them apart.
#[pyclass(frozen, module = "keyswap", mapping)]
pub struct Headers {
    /// (lower-case name, value), in the order received.
    items: Arc<Vec<(String, String)>>,
}

impl Headers {
    fn values_of(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.items
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (k, _) in self.items.iter() {
            if !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
        names
    }
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        let values = self.values_of(name);
        if values.is_empty() {
            return Err(PyKeyError::new_err(name.to_owned()));
        }
        Ok(values.join(", "))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .map(|n| !self.values_of(&n).is_empty())
            .unwrap_or(false)
    }

    fn __len__(&self) -> usize {
        self.names().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.names())?
            .into_any()
            .try_iter()?
            .into_any())
    }

    /// The value of ``name`` (values joined by ``", "``), or ``default``.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        let values = self.values_of(name);
        if values.is_empty() {
            return Ok(default.unwrap_or_else(|| py.None()));
        }
        Ok(values.join(", ").into_pyobject(py)?.into_any().unbind())
    }

    /// Every value of ``name``, in order; ``[]`` when absent.
    fn get_list(&self, name: &str) -> Vec<String> {
        self.values_of(name)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The distinct header names (lower-case), in order.
    fn keys(&self) -> Vec<String> {
        self.names().into_iter().map(str::to_owned).collect()
    }

    /// The values, one per distinct name (joined by ``", "``).
    fn values(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .map(|n| self.values_of(n).join(", "))
            .collect()
    }

    /// ``(name, value)`` pairs, one per distinct name.
    fn items(&self) -> Vec<(String, String)> {
        self.names()
            .into_iter()
            .map(|n| (n.to_owned(), self.values_of(n).join(", ")))
            .collect()
    }

    /// Every ``(name, value)`` pair as received, repeated names included.
    fn multi_items(&self) -> Vec<(String, String)> {
        self.items.to_vec()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(h) = other.cast::<Headers>() {
            return Ok(self.items() == h.get().items());
        }
        let Ok(len) = other.len() else {
            return Ok(false);
        };
        if len != self.__len__() {
            return Ok(false);
        }
        for (k, v) in self.items() {
            match other.get_item(&k) {
                Ok(o) if o.extract::<String>().is_ok_and(|o| o == v) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn __repr__(&self) -> String {
        let inner: Vec<String> = self
            .items()
            .iter()
            .map(|(k, v)| format!("{k:?}: {v:?}"))
            .collect();
        format!("Headers({{{}}})", inner.join(", "))
    }
}

/// An HTTP response, its body already read.
///
/// ``raise_for_status()`` raises :class:`CredentialRejectedError` when the client counts the
/// response as "credential rejected" (a status in its ``retry_on_status``, 401 by default; with
/// an exchange signer also a rejection the exchange reports in the body, such as Kraken's
/// HTTP 200 ``EAPI:Invalid key``) — keyswap has already refreshed, retried and waited by then —
/// and :class:`HTTPStatusError` for other 4xx/5xx.
#[pyclass(frozen, module = "keyswap")]
pub struct Response {
    pub(crate) status: u16,
    /// The headers as received; converted to `(name, value)` strings on first use of
    /// `headers` (most callers read only the status and the body).
    pub(crate) raw_headers: HeaderMap,
    pub(crate) header_items: OnceLock<Arc<Vec<(String, String)>>>,
    pub(crate) url: String,
    pub(crate) version: &'static str,
    pub(crate) content: bytes::Bytes,
    /// Whether the client's core counts this response as "credential rejected"
    /// (`keyswap::Client::is_credential_rejection`), decided when the response was built.
    pub(crate) rejected: bool,
    pub(crate) content_obj: OnceLock<Py<PyBytes>>,
    pub(crate) headers_obj: OnceLock<Py<Headers>>,
}

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl Response {
    fn charset(&self) -> Option<String> {
        let ct = self.raw_headers.get(CONTENT_TYPE)?;
        let ct = String::from_utf8_lossy(ct.as_bytes()).to_ascii_lowercase();
        ct.split(';').skip(1).find_map(|p| {
            let p = p.trim();
            p.strip_prefix("charset=")
                .map(|c| c.trim_matches(|ch| ch == '"' || ch == '\'').to_owned())
        })
    }

    fn reason(&self) -> &'static str {
        keyswap::reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    }
}

#[pymethods]
impl Response {
    /// The status code.
    #[getter]
    fn status_code(&self) -> u16 {
        self.status
    }

    /// The standard reason phrase of the status (``"OK"``, ``"Unauthorized"``, ...).
    #[getter]
    fn reason_phrase(&self) -> &'static str {
        self.reason()
    }

    /// Whether the status is below 400.
    #[getter]
    fn ok(&self) -> bool {
        self.status < 400
    }

    /// The response headers (case-insensitive mapping).
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<Headers>> {
        if let Some(h) = self.headers_obj.get() {
            return Ok(h.clone_ref(py));
        }
        let items = self.header_items.get_or_init(|| {
            Arc::new(
                self.raw_headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
            )
        });
        let h = Py::new(
            py,
            Headers {
                items: Arc::clone(items),
            },
        )?;
        Ok(self.headers_obj.get_or_init(|| h).clone_ref(py))
    }

    /// The final URL (after redirects). With :class:`Query` auth the credential parameter is
    /// not in it (the core removes it; other parameters are kept).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// ``"HTTP/1.1"``, ``"HTTP/2"``, ...
    #[getter]
    fn http_version(&self) -> &'static str {
        self.version
    }

    /// The body as bytes.
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyBytes> {
        self.content_obj
            .get_or_init(|| PyBytes::new(py, &self.content).unbind())
            .clone_ref(py)
    }

    /// The charset named by ``Content-Type``, or ``None`` (``text`` then decodes UTF-8).
    #[getter]
    fn encoding(&self) -> Option<String> {
        self.charset()
    }

    /// The body decoded as text: with the ``Content-Type`` charset, UTF-8 by default;
    /// undecodable bytes become U+FFFD.
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.charset() {
            Some(cs) if !matches!(cs.as_str(), "utf-8" | "utf8") => {
                let decoded = self
                    .content(py)
                    .call_method1(py, "decode", (cs.as_str(), "replace"));
                match decoded {
                    Ok(text) => Ok(text),
                    Err(_) => Ok(String::from_utf8_lossy(&self.content)
                        .into_pyobject(py)?
                        .into_any()
                        .unbind()),
                }
            }
            _ => Ok(String::from_utf8_lossy(&self.content)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }

    /// The body parsed as JSON (``json.loads``); raises ``json.JSONDecodeError`` (a
    /// ``ValueError``) when it is not JSON.
    fn json(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let loads = JSON_LOADS.import(py, "json", "loads")?;
        Ok(loads.call1((self.content(py),))?.unbind())
    }

    /// Returns the response when its status is below 400; raises
    /// :class:`CredentialRejectedError` when the client counts it as "credential rejected" (a
    /// status in ``retry_on_status``, 401 by default, or what an exchange signer reads in the
    /// body: then whatever the status, as Kraken answers a rejected key with HTTP 200),
    /// :class:`HTTPStatusError` for other 4xx/5xx.
    fn raise_for_status<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let this = slf.get();
        if this.status < 400 && !this.rejected {
            return Ok(slf.clone());
        }
        let e = exceptions(py);
        let ty = if this.rejected {
            &e.rejected
        } else {
            &e.status
        };
        let kind = if this.status < 400 {
            "credential rejected"
        } else if this.status < 500 {
            "client error"
        } else {
            "server error"
        };
        let url = this.url.split(['?', '#']).next().unwrap_or_default();
        let msg = format!("{} {} ({kind}) for url {url}", this.status, this.reason());
        let exc = ty.bind(py).call1((msg,))?;
        exc.setattr("response", slf)?;
        exc.setattr("status_code", this.status)?;
        Err(PyErr::from_value(exc))
    }

    fn __repr__(&self) -> String {
        format!("<Response [{} {}]>", self.status, self.reason())
    }
}
