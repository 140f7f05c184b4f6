//! `Response` and its case-insensitive `Headers`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use keyswap::reqwest::header::{CONTENT_TYPE, HeaderMap, SET_COOKIE};

use crate::errors::{exceptions, to_py};
use crate::runtime::{interruptible, is_main_thread};
use crate::{SyncRuntime, runtime};

/// The body of a `stream=True` response, still with its connection.
pub(crate) struct Stream {
    pub(crate) resp: keyswap::reqwest::Response,
    /// Sent by the blocking `Client`: the runtime of the thread that sent it, where its
    /// connection lives. `None`: the shared runtime (`AsyncClient`).
    pub(crate) rt: Option<Arc<SyncRuntime>>,
}

impl Stream {
    /// The next chunk as it arrives, waited for with the GIL released; `None` at the end.
    fn next_chunk(&mut self, py: Python<'_>) -> PyResult<Option<bytes::Bytes>> {
        let rt = self.rt.as_deref();
        let resp = &mut self.resp;
        let main = is_main_thread(py);
        py.detach(move || {
            // On the main thread a signal handler (Ctrl-C) gets to run while it waits.
            let fut = interruptible(resp.chunk(), main);
            match rt {
                Some(rt) => rt.block_on(fut),
                None => runtime().block_on(fut),
            }
        })?
        .map_err(|e| to_py(keyswap::Error::from(e)))
    }

    /// The rest of the body, read with the GIL released.
    fn read_all(self, py: Python<'_>) -> PyResult<bytes::Bytes> {
        let Stream { resp, rt } = self;
        let main = is_main_thread(py);
        py.detach(move || {
            let fut = interruptible(resp.bytes(), main);
            match rt {
                Some(rt) => rt.block_on(fut),
                None => runtime().block_on(fut),
            }
        })?
        .map_err(|e| to_py(keyswap::Error::from(e)))
    }
}

/// A response body: read, or still streaming (`stream=True`).
pub(crate) enum Body {
    Read(bytes::Bytes),
    Stream(Stream),
}

fn consumed() -> PyErr {
    PyRuntimeError::new_err(
        "the body of this stream=True response was already consumed by iter_bytes() or closed",
    )
}

/// The request a :class:`Response` answers: its method and URL — the request as sent, before
/// any redirect (as httpx's ``response.request``; the final URL is ``response.url``); with
/// :class:`Query` auth without the credential parameter.
#[pyclass(frozen, module = "keyswap")]
pub struct Request {
    method: String,
    url: String,
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
        format!("<Request({:?}, {:?})>", self.method, redacted(&self.url))
    }
}

fn redacted(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// What `iter_bytes` walks: a body in memory, or a stream.
enum Walk {
    Memory(bytes::Bytes),
    Stream(Stream),
    /// Taken by a thread reading the next chunk (another thread then gets an error).
    Busy,
    Done,
}

/// The iterator :meth:`Response.iter_bytes` returns.
#[pyclass(frozen, module = "keyswap")]
pub struct ByteStream {
    walk: Mutex<Walk>,
    chunk_size: Option<usize>,
    buf: Mutex<Vec<u8>>,
}

impl ByteStream {
    /// The next piece of the body as it comes, `None` at the end.
    fn raw(&self, py: Python<'_>) -> PyResult<Option<bytes::Bytes>> {
        let taken = std::mem::replace(
            &mut *self.walk.lock().unwrap_or_else(|p| p.into_inner()),
            Walk::Busy,
        );
        let (next, rest) = match taken {
            Walk::Memory(mut b) => {
                let n = self.chunk_size.unwrap_or(b.len()).max(1).min(b.len());
                if b.is_empty() {
                    (None, Walk::Done)
                } else {
                    let head = b.split_to(n);
                    (Some(head), Walk::Memory(b))
                }
            }
            Walk::Stream(mut s) => match s.next_chunk(py) {
                Ok(Some(c)) => (Some(c), Walk::Stream(s)),
                Ok(None) => (None, Walk::Done),
                Err(e) => {
                    *self.walk.lock().unwrap_or_else(|p| p.into_inner()) = Walk::Done;
                    return Err(e);
                }
            },
            Walk::Busy => {
                return Err(PyRuntimeError::new_err(
                    "iter_bytes() is being iterated by another thread",
                ));
            }
            Walk::Done => (None, Walk::Done),
        };
        *self.walk.lock().unwrap_or_else(|p| p.into_inner()) = rest;
        Ok(next)
    }
}

#[pymethods]
impl ByteStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        loop {
            if let Some(n) = self.chunk_size {
                let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
                if buf.len() >= n {
                    let rest = buf.split_off(n);
                    let head = std::mem::replace(&mut *buf, rest);
                    return Ok(Some(PyBytes::new(py, &head)));
                }
            }
            match self.raw(py)? {
                Some(c) if c.is_empty() => continue,
                Some(c) if self.chunk_size.is_none() => return Ok(Some(PyBytes::new(py, &c))),
                Some(c) => self
                    .buf
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&c),
                None => {
                    let rest =
                        std::mem::take(&mut *self.buf.lock().unwrap_or_else(|p| p.into_inner()));
                    return Ok((!rest.is_empty()).then(|| PyBytes::new(py, &rest)));
                }
            }
        }
    }
}

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

/// The async iterator :meth:`Response.aiter_bytes` returns (for :class:`AsyncClient`).
#[pyclass(frozen, module = "keyswap")]
pub struct AsyncByteStream {
    state: Arc<tokio::sync::Mutex<(Walk, Vec<u8>)>>,
    chunk_size: Option<usize>,
}

/// The next piece of an async walk: chunks as received, or exactly `chunk_size` bytes.
async fn next_async(
    state: &mut (Walk, Vec<u8>),
    chunk_size: Option<usize>,
) -> keyswap::Result<Option<Vec<u8>>> {
    let (walk, buf) = state;
    loop {
        if let Some(n) = chunk_size {
            if buf.len() >= n {
                let rest = buf.split_off(n);
                return Ok(Some(std::mem::replace(buf, rest)));
            }
        }
        let piece = match walk {
            Walk::Memory(b) if b.is_empty() => None,
            Walk::Memory(b) => {
                let n = chunk_size.unwrap_or(b.len()).min(b.len());
                Some(b.split_to(n))
            }
            // A blocking `Client`'s stream: read on its thread's runtime, where its connection
            // lives (this worker blocks meanwhile).
            Walk::Stream(Stream { resp, rt: Some(rt) }) => {
                match tokio::task::block_in_place(|| rt.block_on(resp.chunk())) {
                    Ok(c) => c,
                    Err(e) => {
                        *walk = Walk::Done;
                        return Err(e.into());
                    }
                }
            }
            Walk::Stream(s) => match s.resp.chunk().await {
                Ok(c) => c,
                Err(e) => {
                    *walk = Walk::Done;
                    return Err(e.into());
                }
            },
            Walk::Busy | Walk::Done => None,
        };
        match piece {
            Some(c) if c.is_empty() => continue,
            Some(c) if chunk_size.is_none() => return Ok(Some(c.to_vec())),
            Some(c) => buf.extend_from_slice(&c),
            None => {
                *walk = Walk::Done;
                let rest = std::mem::take(buf);
                return Ok((!rest.is_empty()).then_some(rest));
            }
        }
    }
}

#[pymethods]
impl AsyncByteStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = Arc::clone(&self.state);
        let chunk_size = self.chunk_size;
        let next = async move {
            let mut state = state.lock().await;
            match next_async(&mut state, chunk_size).await.map_err(to_py)? {
                Some(v) => Ok(std::borrow::Cow::<'static, [u8]>::Owned(v)),
                None => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
            }
        };
        crate::bridge::spawn_value(py, next)
    }
}

/// An HTTP response: its body read, or with ``stream=True`` still on the connection until
/// :meth:`iter_bytes`, :meth:`aiter_bytes` or :meth:`read` reads it.
///
/// ``raise_for_status()`` raises :class:`CredentialRejectedError` when the client counts the
/// response as "credential rejected" (a status in its ``retry_on_status``, 401 by default; with
/// an exchange signer, given as an object or as an auth string, also a rejection the exchange
/// reports in the body, such as Kraken's HTTP 200 ``EAPI:Invalid key``) — keyswap has already
/// refreshed, retried and waited by then — and :class:`HTTPStatusError` for other 4xx/5xx.
#[pyclass(frozen, module = "keyswap")]
pub struct Response {
    pub(crate) status: u16,
    /// The headers as received; converted to `(name, value)` strings on first use of
    /// `headers` (most callers read only the status and the body).
    pub(crate) raw_headers: HeaderMap,
    pub(crate) header_items: OnceLock<Arc<Vec<(String, String)>>>,
    pub(crate) url: String,
    pub(crate) version: &'static str,
    /// The body, once read (at once, or by `read()`/`content` for `stream=True`).
    pub(crate) content: OnceLock<bytes::Bytes>,
    /// The unread body of a `stream=True` response.
    stream: Mutex<Option<Stream>>,
    method: String,
    elapsed: Duration,
    /// The redirects followed to reach this response, oldest first (`keyswap::redirects`).
    pub(crate) redirects: Vec<keyswap::Redirect>,
    /// Whether the client's core counts this response as "credential rejected"
    /// (`keyswap::Client::classify`; for an unread `stream=True` body
    /// `keyswap::Client::is_credential_rejection`), decided when the response was built.
    pub(crate) rejected: bool,
    pub(crate) content_obj: OnceLock<Py<PyBytes>>,
    pub(crate) headers_obj: OnceLock<Py<Headers>>,
}

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `keyswap._text`: the incremental decoding and line splitting of `iter_text`/`iter_lines`
/// (Python's own codecs do the decoding).
fn text_helpers(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    static TEXT: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    Ok(TEXT
        .get_or_try_init(py, || py.import("keyswap._text").map(Bound::unbind))?
        .bind(py)
        .clone())
}

impl Response {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        status: u16,
        raw_headers: HeaderMap,
        url: String,
        version: &'static str,
        body: Body,
        rejected: bool,
        method: String,
        elapsed: Duration,
    ) -> Response {
        let (content, stream) = match body {
            Body::Read(b) => (OnceLock::from(b), None),
            Body::Stream(s) => (OnceLock::new(), Some(s)),
        };
        Response {
            status,
            raw_headers,
            header_items: OnceLock::new(),
            url,
            version,
            content,
            stream: Mutex::new(stream),
            method,
            elapsed,
            redirects: Vec::new(),
            rejected,
            content_obj: OnceLock::new(),
            headers_obj: OnceLock::new(),
        }
    }

    /// The same response, with the redirects followed to reach it.
    pub(crate) fn with_redirects(mut self, redirects: &[keyswap::Redirect]) -> Response {
        self.redirects = redirects.to_vec();
        self
    }

    /// The body; for an unread `stream=True` response, reads the rest first.
    fn body(&self, py: Python<'_>) -> PyResult<&bytes::Bytes> {
        if let Some(b) = self.content.get() {
            return Ok(b);
        }
        let taken = self.stream.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(stream) = taken else {
            return self.content.get().ok_or_else(consumed);
        };
        let bytes = stream.read_all(py)?;
        Ok(self.content.get_or_init(|| bytes))
    }

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

    /// The body as bytes. For a ``stream=True`` response not read yet, reads the rest of the
    /// body first (GIL released); after :meth:`iter_bytes` consumed it, raises
    /// ``RuntimeError``.
    #[getter]
    fn content(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        if let Some(c) = self.content_obj.get() {
            return Ok(c.clone_ref(py));
        }
        let body = self.body(py)?;
        Ok(self
            .content_obj
            .get_or_init(|| PyBytes::new(py, body).unbind())
            .clone_ref(py))
    }

    /// Reads the rest of a ``stream=True`` body and returns the whole body (as
    /// :attr:`content`).
    fn read(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        self.content(py)
    }

    /// The body in chunks as it arrives, for large bodies: with ``stream=True`` the body is
    /// read from the connection chunk by chunk, the GIL released while waiting. Chunks are as
    /// received, or exactly ``chunk_size`` bytes (the last one shorter). A streamed body can
    /// be iterated once; a read one, any number of times.
    #[pyo3(signature = (chunk_size=None))]
    fn iter_bytes(&self, chunk_size: Option<usize>) -> PyResult<ByteStream> {
        if chunk_size == Some(0) {
            return Err(PyValueError::new_err("chunk_size must be positive"));
        }
        let walk = match self.content.get() {
            Some(b) => Walk::Memory(b.clone()),
            None => match self.stream.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(s) => Walk::Stream(s),
                None => return Err(consumed()),
            },
        };
        Ok(ByteStream {
            walk: Mutex::new(walk),
            chunk_size,
            buf: Mutex::new(Vec::new()),
        })
    }

    /// :meth:`iter_bytes` for asyncio: ``async for chunk in response.aiter_bytes():`` waits
    /// for each chunk without blocking the event loop (use it with :class:`AsyncClient` and
    /// ``stream=True``).
    #[pyo3(signature = (chunk_size=None))]
    fn aiter_bytes(&self, chunk_size: Option<usize>) -> PyResult<AsyncByteStream> {
        if chunk_size == Some(0) {
            return Err(PyValueError::new_err("chunk_size must be positive"));
        }
        let walk = match self.content.get() {
            Some(b) => Walk::Memory(b.clone()),
            None => match self.stream.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(s) => Walk::Stream(s),
                None => return Err(consumed()),
            },
        };
        Ok(AsyncByteStream {
            state: Arc::new(tokio::sync::Mutex::new((walk, Vec::new()))),
            chunk_size,
        })
    }

    /// Releases the connection of an unread ``stream=True`` body (no-op otherwise).
    fn close(&self) {
        drop(self.stream.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// Whether the body has been read (always ``True`` without ``stream=True``).
    #[getter]
    fn is_read(&self) -> bool {
        self.content.get().is_some()
    }

    /// Time from sending the request to the response: with its body read, or (``stream=True``)
    /// its headers received. Includes keyswap's retries and redirects.
    #[getter]
    fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The request this response answers (:class:`Request`: ``method``, ``url``), as it was
    /// sent: its URL is the one asked for, before redirects (``response.url`` is the last).
    #[getter]
    fn request(&self) -> Request {
        Request {
            method: self.method.clone(),
            url: self
                .redirects
                .first()
                .map_or_else(|| self.url.clone(), |r| r.url().to_string()),
        }
    }

    /// The redirect responses followed to reach this one, oldest first, as in httpx: each with
    /// its status, headers and URL, and an empty body (keyswap follows redirects itself,
    /// deciding on each hop whether the credential goes along, and does not read their
    /// bodies). ``[]`` when there was no redirect.
    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let hops = self.redirects.iter().map(|r| {
            Response::new(
                r.status().as_u16(),
                r.headers().clone(),
                r.url().to_string(),
                self.version,
                Body::Read(bytes::Bytes::new()),
                false,
                self.method.clone(),
                Duration::ZERO,
            )
        });
        let list = PyList::empty(py);
        for hop in hops {
            list.append(Py::new(py, hop)?)?;
        }
        Ok(list)
    }

    /// Whether the status is 2xx.
    #[getter]
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the status is a redirect (301, 302, 303, 307, 308) — one keyswap did not
    /// follow (``follow_redirects=False``, or the redirect limit).
    #[getter]
    fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    /// Whether the status is 4xx.
    #[getter]
    fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// Whether the status is 5xx.
    #[getter]
    fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// Whether the status is 4xx or 5xx.
    #[getter]
    fn is_error(&self) -> bool {
        (400..600).contains(&self.status)
    }

    /// The body as text, in pieces decoded incrementally with :attr:`encoding` (UTF-8 when the
    /// response names none; undecodable bytes replaced), as httpx's ``iter_text``: reads a
    /// ``stream=True`` body as it arrives.
    #[pyo3(signature = (chunk_size=None))]
    fn iter_text<'py>(
        slf: &Bound<'py, Self>,
        chunk_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let chunks = Bound::new(py, slf.borrow().iter_bytes(chunk_size)?)?;
        let encoding = slf
            .borrow()
            .encoding()
            .unwrap_or_else(|| "utf-8".to_owned());
        text_helpers(py)?.call_method1("iter_text", (chunks, encoding))
    }

    /// The body line by line, without line endings (``\n``, ``\r\n`` or ``\r``), as
    /// httpx's ``iter_lines``; decoded as :meth:`iter_text` does.
    fn iter_lines<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let text = Self::iter_text(slf, None)?;
        text_helpers(py)?.call_method1("iter_lines", (text,))
    }

    /// :meth:`iter_text` for ``async for`` (an :class:`AsyncClient`'s ``stream=True`` body).
    #[pyo3(signature = (chunk_size=None))]
    fn aiter_text<'py>(
        slf: &Bound<'py, Self>,
        chunk_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let chunks = Bound::new(py, slf.borrow().aiter_bytes(chunk_size)?)?;
        let encoding = slf
            .borrow()
            .encoding()
            .unwrap_or_else(|| "utf-8".to_owned());
        text_helpers(py)?.call_method1("aiter_text", (chunks, encoding))
    }

    /// :meth:`iter_lines` for ``async for``.
    fn aiter_lines<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let text = Self::aiter_text(slf, None)?;
        text_helpers(py)?.call_method1("aiter_lines", (text,))
    }

    /// The cookies the response sets: ``{name: value}`` from its ``Set-Cookie`` headers
    /// (attributes such as ``Path`` or ``Expires`` are not kept; keyswap has no cookie jar).
    #[getter]
    fn cookies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for v in self.raw_headers.get_all(SET_COOKIE) {
            let v = String::from_utf8_lossy(v.as_bytes());
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let name = name.trim();
                if !name.is_empty() {
                    d.set_item(name, value.trim().trim_matches('"'))?;
                }
            }
        }
        Ok(d)
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
                let decoded =
                    self.content(py)?
                        .call_method1(py, "decode", (cs.as_str(), "replace"));
                match decoded {
                    Ok(text) => Ok(text),
                    Err(_) => Ok(String::from_utf8_lossy(self.body(py)?)
                        .into_pyobject(py)?
                        .into_any()
                        .unbind()),
                }
            }
            _ => Ok(String::from_utf8_lossy(self.body(py)?)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }

    /// The body parsed as JSON (``json.loads``); raises ``json.JSONDecodeError`` (a
    /// ``ValueError``) when it is not JSON.
    fn json(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let loads = JSON_LOADS.import(py, "json", "loads")?;
        Ok(loads.call1((self.content(py)?,))?.unbind())
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
