//! `Response`: what a request returned, with the names and meaning of httpx's where the concept
//! is the same (see the README's table for the deliberate differences). Whether the credential
//! was rejected is the core's verdict (`keyswap::verdict`), carried here, never decided again.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyswap::reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, SET_COOKIE};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors::{exceptions, to_py};
use crate::headers::Headers;
use crate::redact::shown_url;
use crate::sent_request::Request;
use crate::streaming::{AsyncByteStream, ByteStream, ResponseBody, Stream, Walk, consumed};

/// What a response is, apart from its body.
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The final URL; the core has removed a query-parameter credential from it.
    pub(crate) url: String,
    pub(crate) version: &'static str,
    pub(crate) method: String,
    pub(crate) elapsed: Duration,
    /// The redirects followed to reach this response, oldest first (`keyswap::redirects`).
    pub(crate) redirects: Vec<keyswap::Redirect>,
    /// The core's verdict (`keyswap::verdict`): the credential was rejected for good.
    pub(crate) rejected: bool,
}

/// An HTTP response: its body read, or with ``stream=True`` still on the connection until
/// :meth:`iter_bytes`, :meth:`aiter_bytes`, :meth:`read` or :meth:`aread` reads it.
///
/// ``raise_for_status()`` raises :class:`CredentialRejectedError` when the client counts the
/// response as "credential rejected" (a status in its ``retry_on_status``, 401 by default; with
/// an exchange signer, given as an object or as an auth string, also a rejection the exchange
/// reports in the body, such as Kraken's HTTP 200 ``EAPI:Invalid key``) — keyswap has already
/// refreshed, retried and waited by then — and :class:`HTTPStatusError` for any other status
/// that is not 2xx (as httpx).
#[pyclass(frozen, module = "keyswap")]
pub struct Response {
    head: Head,
    /// The body, once read (at once, or by `read()`/`content` for `stream=True`).
    content: OnceLock<bytes::Bytes>,
    /// The unread body of a `stream=True` response.
    stream: Mutex<Option<Stream>>,
    /// A `stream=True` body's bytes received so far (shared with the stream reading them);
    /// `None` for a body read at once (no counter to allocate on the common path).
    downloaded: Option<Arc<AtomicU64>>,
    content_obj: OnceLock<Py<PyBytes>>,
    headers_obj: OnceLock<Py<Headers>>,
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
    pub(crate) fn new(head: Head, body: ResponseBody) -> Response {
        let (content, stream, downloaded) = match body {
            ResponseBody::Read(b) => (OnceLock::from(b), None, None),
            ResponseBody::Stream(s) => {
                let n = Arc::clone(&s.downloaded);
                (OnceLock::new(), Some(s), Some(n))
            }
        };
        Response {
            head,
            content,
            stream: Mutex::new(stream),
            downloaded,
            content_obj: OnceLock::new(),
            headers_obj: OnceLock::new(),
        }
    }

    /// The body; for an unread `stream=True` response, reads the rest first.
    fn body(&self, py: Python<'_>) -> PyResult<&bytes::Bytes> {
        if let Some(b) = self.content.get() {
            return Ok(b);
        }
        let Some(stream) = self.take_stream() else {
            return self.content.get().ok_or_else(consumed);
        };
        let bytes = stream.read_all(py)?;
        Ok(self.content.get_or_init(|| bytes))
    }

    fn take_stream(&self) -> Option<Stream> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// What `iter_bytes`/`aiter_bytes` walk: the body read, or the stream (taken: once).
    fn walk(&self, chunk_size: Option<usize>) -> PyResult<Walk> {
        if chunk_size == Some(0) {
            return Err(PyValueError::new_err("chunk_size must be positive"));
        }
        match self.content.get() {
            Some(b) => Ok(Walk::Memory(b.clone())),
            None => self.take_stream().map(Walk::Stream).ok_or_else(consumed),
        }
    }

    fn charset(&self) -> Option<String> {
        let ct = self.head.headers.get(CONTENT_TYPE)?;
        let ct = String::from_utf8_lossy(ct.as_bytes()).to_ascii_lowercase();
        ct.split(';').skip(1).find_map(|p| {
            let p = p.trim();
            p.strip_prefix("charset=")
                .map(|c| c.trim_matches(|ch| ch == '"' || ch == '\'').to_owned())
        })
    }

    fn reason(&self) -> &'static str {
        keyswap::reqwest::StatusCode::from_u16(self.head.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    }

    fn is_redirect_status(&self) -> bool {
        matches!(self.head.status, 301 | 302 | 303 | 307 | 308)
    }
}

#[pymethods]
impl Response {
    /// The status code.
    #[getter]
    fn status_code(&self) -> u16 {
        self.head.status
    }

    /// The standard reason phrase of the status (``"OK"``, ``"Unauthorized"``, ...).
    #[getter]
    fn reason_phrase(&self) -> &'static str {
        self.reason()
    }

    /// Whether the status is below 400 (as requests' ``ok``).
    #[getter]
    fn ok(&self) -> bool {
        self.head.status < 400
    }

    /// The response headers (case-insensitive mapping).
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<Headers>> {
        if let Some(h) = self.headers_obj.get() {
            return Ok(h.clone_ref(py));
        }
        let h = Py::new(py, Headers::new(&self.head.headers))?;
        Ok(self.headers_obj.get_or_init(|| h).clone_ref(py))
    }

    /// The final URL (after redirects). With :class:`Query` auth the credential parameter is
    /// not in it (the core removes it; other parameters are kept).
    #[getter]
    fn url(&self) -> &str {
        &self.head.url
    }

    /// ``"HTTP/1.1"``, ``"HTTP/2"``, ...
    #[getter]
    fn http_version(&self) -> &'static str {
        self.head.version
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

    /// :meth:`read` for asyncio (an :class:`AsyncClient`'s ``stream=True`` response): an
    /// awaitable of the whole body, read without blocking the event loop.
    fn aread<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this: Py<Self> = slf.clone().unbind();
        let stream = match slf.get().content.get() {
            Some(_) => None,
            None => Some(slf.get().take_stream().ok_or_else(consumed)?),
        };
        crate::bridge::spawn(py, async move {
            let read = match stream {
                Some(s) => Some(s.read_all_async().await),
                None => None,
            };
            Box::new(move |py: Python<'_>| {
                let this = this.get();
                if let Some(read) = read {
                    let bytes = read.map_err(to_py)?;
                    let _ = this.content.set(bytes);
                }
                Ok(this.content(py)?.into_any())
            }) as crate::bridge::Outcome
        })
    }

    /// The body in chunks as it arrives, for large bodies: with ``stream=True`` the body is
    /// read from the connection chunk by chunk, the GIL released while waiting. Chunks are as
    /// received, or exactly ``chunk_size`` bytes (the last one shorter). A streamed body can
    /// be iterated once; a read one, any number of times.
    #[pyo3(signature = (chunk_size=None))]
    fn iter_bytes(&self, chunk_size: Option<usize>) -> PyResult<ByteStream> {
        Ok(ByteStream::new(self.walk(chunk_size)?, chunk_size))
    }

    /// :meth:`iter_bytes` for asyncio: ``async for chunk in response.aiter_bytes():`` waits
    /// for each chunk without blocking the event loop (use it with :class:`AsyncClient` and
    /// ``stream=True``).
    #[pyo3(signature = (chunk_size=None))]
    fn aiter_bytes(&self, chunk_size: Option<usize>) -> PyResult<AsyncByteStream> {
        Ok(AsyncByteStream::new(self.walk(chunk_size)?, chunk_size))
    }

    /// Releases the connection of an unread ``stream=True`` body (no-op otherwise).
    fn close(&self) {
        drop(self.take_stream());
    }

    /// :meth:`close` for asyncio (an awaitable of ``None``).
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        crate::bridge::spawn_value(py, async { Ok(None::<()>) })
    }

    /// Whether the body has been read (always ``True`` without ``stream=True``).
    #[getter]
    fn is_read(&self) -> bool {
        self.content.get().is_some()
    }

    /// The body bytes received so far: the whole body once read; with ``stream=True``, what
    /// :meth:`iter_bytes` and the like have read from the connection (keyswap does not
    /// decompress: these are the bytes the server sent).
    #[getter]
    fn num_bytes_downloaded(&self) -> u64 {
        match (self.content.get(), &self.downloaded) {
            (Some(body), _) => body.len() as u64,
            (None, Some(streamed)) => streamed.load(Relaxed),
            (None, None) => 0,
        }
    }

    /// Time from sending the request to the response: with its body read, or (``stream=True``)
    /// its headers received. Includes keyswap's retries and redirects.
    #[getter]
    fn elapsed(&self) -> Duration {
        self.head.elapsed
    }

    /// The request this response answers (:class:`Request`: ``method``, ``url``), as it was
    /// sent: its URL is the one asked for, before redirects (``response.url`` is the last).
    #[getter]
    fn request(&self) -> Request {
        let url = self
            .head
            .redirects
            .first()
            .map_or_else(|| self.head.url.clone(), |r| r.url().to_string());
        Request::new(self.head.method.clone(), url)
    }

    /// The redirect responses followed to reach this one, oldest first, as in httpx: each with
    /// its status, headers and URL, and an empty body (keyswap follows redirects itself,
    /// deciding on each hop whether the credential goes along, and does not read their
    /// bodies). ``[]`` when there was no redirect.
    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for r in &self.head.redirects {
            let head = Head {
                status: r.status().as_u16(),
                headers: r.headers().clone(),
                url: r.url().to_string(),
                version: self.head.version,
                method: self.head.method.clone(),
                elapsed: Duration::ZERO,
                redirects: Vec::new(),
                rejected: false,
            };
            let hop = Response::new(head, ResponseBody::Read(bytes::Bytes::new()));
            list.append(Py::new(py, hop)?)?;
        }
        Ok(list)
    }

    /// Whether the status is 2xx.
    #[getter]
    fn is_success(&self) -> bool {
        (200..300).contains(&self.head.status)
    }

    /// Whether the status is a redirect (301, 302, 303, 307, 308) — one keyswap did not
    /// follow (``follow_redirects=False``, or the redirect limit).
    #[getter]
    fn is_redirect(&self) -> bool {
        self.is_redirect_status()
    }

    /// Whether the status is a redirect and the response names where to (``Location``).
    #[getter]
    fn has_redirect_location(&self) -> bool {
        self.is_redirect_status() && self.head.headers.contains_key(LOCATION)
    }

    /// Whether the status is 4xx.
    #[getter]
    fn is_client_error(&self) -> bool {
        (400..500).contains(&self.head.status)
    }

    /// Whether the status is 5xx.
    #[getter]
    fn is_server_error(&self) -> bool {
        (500..600).contains(&self.head.status)
    }

    /// Whether the status is 4xx or 5xx.
    #[getter]
    fn is_error(&self) -> bool {
        (400..600).contains(&self.head.status)
    }

    /// The body as text, in pieces decoded incrementally with :attr:`encoding` (undecodable
    /// bytes replaced), as httpx's ``iter_text``: reads a ``stream=True`` body as it arrives.
    #[pyo3(signature = (chunk_size=None))]
    fn iter_text<'py>(
        slf: &Bound<'py, Self>,
        chunk_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let chunks = Bound::new(py, slf.get().iter_bytes(chunk_size)?)?;
        text_helpers(py)?.call_method1("iter_text", (chunks, slf.get().encoding()))
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
        let chunks = Bound::new(py, slf.get().aiter_bytes(chunk_size)?)?;
        text_helpers(py)?.call_method1("aiter_text", (chunks, slf.get().encoding()))
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
        for v in self.head.headers.get_all(SET_COOKIE) {
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

    /// The charset named by ``Content-Type``, or ``None``.
    #[getter]
    fn charset_encoding(&self) -> Option<String> {
        self.charset()
    }

    /// The encoding :attr:`text` decodes with: :attr:`charset_encoding`, else ``"utf-8"``.
    #[getter]
    fn encoding(&self) -> String {
        self.charset().unwrap_or_else(|| "utf-8".to_owned())
    }

    /// The body decoded as text with :attr:`encoding`; undecodable bytes become U+FFFD (an
    /// unknown charset decodes as UTF-8).
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lossy_utf8 = |body: &bytes::Bytes| -> PyResult<Py<PyAny>> {
            Ok(String::from_utf8_lossy(body)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        };
        match self.charset() {
            Some(cs) if !matches!(cs.as_str(), "utf-8" | "utf8") => {
                let decoded =
                    self.content(py)?
                        .call_method1(py, "decode", (cs.as_str(), "replace"));
                match decoded {
                    Ok(text) => Ok(text),
                    Err(_) => lossy_utf8(self.body(py)?),
                }
            }
            _ => lossy_utf8(self.body(py)?),
        }
    }

    /// The body parsed as JSON (``json.loads``, given ``kwargs``); raises
    /// ``json.JSONDecodeError`` (a ``ValueError``) when it is not JSON.
    #[pyo3(signature = (**kwargs))]
    fn json(&self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let loads = JSON_LOADS.import(py, "json", "loads")?;
        Ok(loads.call((self.content(py)?,), kwargs)?.unbind())
    }

    /// Returns the response when its status is 2xx and the client did not count it as
    /// "credential rejected"; raises :class:`CredentialRejectedError` when it did (a status in
    /// ``retry_on_status``, 401 by default, or what an exchange signer reads in the body: then
    /// whatever the status, as Kraken answers a rejected key with HTTP 200), and
    /// :class:`HTTPStatusError` for any other status (1xx, 3xx, 4xx, 5xx, as httpx). The
    /// exception carries ``response``, ``request`` and ``status_code``.
    fn raise_for_status<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let this = slf.get();
        let status = this.head.status;
        if this.is_success() && !this.head.rejected {
            return Ok(slf.clone());
        }
        let e = exceptions(py);
        let ty = if this.head.rejected {
            &e.rejected
        } else {
            &e.status
        };
        let kind = match status {
            // A rejection the exchange reported in the body of a 2xx (Kraken).
            _ if this.head.rejected && status < 400 => "credential rejected",
            100..=199 => "informational response",
            300..=399 => "redirect response",
            400..=499 => "client error",
            500..=599 => "server error",
            _ => "unexpected status",
        };
        let url = shown_url(&this.head.url);
        let msg = format!("{status} {} ({kind}) for url {url}", this.reason());
        let exc = ty.bind(py).call1((msg,))?;
        exc.setattr("response", slf)?;
        exc.setattr("request", this.request())?;
        exc.setattr("status_code", status)?;
        Err(PyErr::from_value(exc))
    }

    fn __repr__(&self) -> String {
        format!("<Response [{} {}]>", self.head.status, self.reason())
    }
}
