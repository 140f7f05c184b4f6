//! Conversions from Python arguments to what the Rust core takes. They run with the GIL held,
//! before the GIL is released for the network work.

use std::time::Duration;

use keyswap::reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::errors::config_error;

/// Seconds (int or float) to a `Duration`; `what` names the argument in the error.
pub(crate) fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(config_error(format!(
            "{what} must be a non-negative number of seconds, got {secs}"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| config_error(format!("{what} is out of range: {secs}")))
}

pub(crate) fn opt_seconds(what: &str, secs: Option<f64>) -> PyResult<Option<Duration>> {
    secs.map(|s| seconds(what, s)).transpose()
}

/// Items of a mapping or an iterable of pairs.
fn pairs<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    if let Ok(dict) = obj.cast::<PyDict>() {
        return Ok(dict.iter().collect());
    }
    let items = if obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut out = Vec::new();
    for item in items.try_iter().map_err(|_| {
        config_error(format!(
            "{what} must be a mapping or a sequence of (name, value) pairs"
        ))
    })? {
        let item = item?;
        let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract().map_err(|_| {
            config_error(format!(
                "{what} must be a mapping or a sequence of (name, value) pairs"
            ))
        })?;
        out.push((k, v));
    }
    Ok(out)
}

/// A query or form value as text: `str` as is, `bool` as `true`/`false`, numbers by `str()`.
fn scalar(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| config_error("bytes query or form values must be UTF-8"));
    }
    Ok(v.str()?.to_cow()?.into_owned())
}

/// Query parameters or form fields: a mapping or pairs; a list or tuple value repeats the name;
/// `None` values are left out.
pub(crate) fn params(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (k, v) in pairs(obj, what)? {
        let name = scalar(&k)?;
        if v.is_none() {
            continue;
        }
        if v.cast::<PyList>().is_ok() || v.cast::<PyTuple>().is_ok() {
            for item in v.try_iter()? {
                let item = item?;
                if !item.is_none() {
                    out.push((name.clone(), scalar(&item)?));
                }
            }
        } else {
            out.push((name, scalar(&v)?));
        }
    }
    Ok(out)
}

/// Request headers. Errors name the header, never its value (which may be a secret).
pub(crate) fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(map);
    };
    for (k, v) in pairs(obj, "headers")? {
        let name: String = k
            .extract()
            .map_err(|_| config_error("header names must be str"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| config_error(format!("invalid header name {name:?}")))?;
        let value = if let Ok(b) = v.cast::<PyBytes>() {
            HeaderValue::from_bytes(b.as_bytes())
        } else {
            let s: String = v.extract().map_err(|_| {
                config_error(format!("the value of header {name} must be str or bytes"))
            })?;
            HeaderValue::from_str(&s)
        }
        .map_err(|_| config_error(format!("invalid value for header {name} (not shown)")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// What a request carries as its body.
pub(crate) enum Body {
    None,
    Bytes {
        bytes: Vec<u8>,
        content_type: Option<&'static str>,
    },
    Form(Vec<(String, String)>),
    /// `multipart/form-data` (`files=`), with its boundary in `content_type`.
    Multipart {
        bytes: Vec<u8>,
        content_type: String,
    },
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The body from `json=` (serialized with Python's `json.dumps`, compact) or `data=`
/// (`bytes`-like and `str` as is, a mapping or pairs as a form).
pub(crate) fn body(
    json: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<Body> {
    let json = json.filter(|o| !o.is_none());
    let data = data.filter(|o| !o.is_none());
    match (json, data) {
        (Some(_), Some(_)) => Err(config_error("pass either json= or data=, not both")),
        (Some(obj), None) => {
            let py = obj.py();
            let dumps = JSON_DUMPS.import(py, "json", "dumps")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("separators", (",", ":"))?;
            kwargs.set_item("ensure_ascii", false)?;
            let text = dumps.call((obj,), Some(&kwargs))?;
            let text: String = text.extract()?;
            Ok(Body::Bytes {
                bytes: text.into_bytes(),
                content_type: Some("application/json"),
            })
        }
        (None, Some(obj)) => {
            if let Ok(b) = obj.cast::<PyBytes>() {
                Ok(Body::Bytes {
                    bytes: b.as_bytes().to_vec(),
                    content_type: None,
                })
            } else if let Ok(b) = obj.cast::<PyByteArray>() {
                Ok(Body::Bytes {
                    bytes: b.to_vec(),
                    content_type: None,
                })
            } else if let Ok(s) = obj.cast::<PyString>() {
                Ok(Body::Bytes {
                    bytes: s.to_cow()?.as_bytes().to_vec(),
                    content_type: Some("text/plain; charset=utf-8"),
                })
            } else if obj.cast::<PyDict>().is_ok()
                || obj.cast::<PyList>().is_ok()
                || obj.cast::<PyTuple>().is_ok()
            {
                Ok(Body::Form(params(Some(obj), "data")?))
            } else if let Ok(v) = obj.extract::<Vec<u8>>() {
                // memoryview and other buffer objects
                Ok(Body::Bytes {
                    bytes: v,
                    content_type: None,
                })
            } else {
                Err(config_error(
                    "data= must be bytes, bytearray, str, a mapping or a sequence of pairs",
                ))
            }
        }
        (None, None) => Ok(Body::None),
    }
}

/// Sets `Content-Type` on `headers` unless the caller already did.
pub(crate) fn default_content_type(headers: &mut HeaderMap, content_type: Option<&'static str>) {
    if let Some(ct) = content_type {
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    }
}

/// A multipart part: field name, file name, content type, content.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

/// A `multipart/form-data` body from `files=` (and the fields of `data=`), encoded here so it
/// is plain bytes: replayable on a retry after an authentication failure.
///
/// `files`: a mapping or pairs of field name to `bytes`/`str`, a file object (read whole), or
/// a tuple `(filename, content[, content_type])`. `data`: a mapping or pairs of text fields.
pub(crate) fn multipart(
    files: &Bound<'_, PyAny>,
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<Body> {
    let mut parts: Vec<Part> = Vec::new();
    if let Some(data) = data.filter(|o| !o.is_none()) {
        if data.cast::<PyBytes>().is_ok() || data.cast::<PyString>().is_ok() {
            return Err(config_error(
                "with files=, data= must be a mapping or pairs of form fields",
            ));
        }
        for (name, value) in params(Some(data), "data")? {
            parts.push((name, None, None, value.into_bytes()));
        }
    }
    for (name, value) in pairs(files, "files")? {
        let name = scalar(&name)?;
        let (filename, content, content_type) = if let Ok(t) = value.cast::<PyTuple>() {
            let filename: Option<String> = t.get_item(0)?.extract().map_err(|_| {
                config_error("files= tuples are (filename, content[, content_type])")
            })?;
            let content = t.get_item(1).map_err(|_| {
                config_error("files= tuples are (filename, content[, content_type])")
            })?;
            let ct: Option<String> = match t.get_item(2) {
                Ok(ct) => ct.extract()?,
                Err(_) => None,
            };
            (filename, file_content(&content)?, ct)
        } else {
            let filename = value
                .getattr("name")
                .ok()
                .and_then(|n| n.extract::<String>().ok())
                .map(|n| {
                    std::path::Path::new(&n)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or(n)
                })
                .or_else(|| Some("upload".to_owned()));
            (filename, file_content(&value)?, None)
        };
        let ct = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
        parts.push((name, filename, Some(ct), content));
    }
    let boundary = boundary(&parts);
    let mut out = Vec::new();
    for (name, filename, ct, content) in &parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", quoted(name));
        if let Some(f) = filename {
            disposition.push_str(&format!("; filename=\"{}\"", quoted(f)));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = ct {
            if ct.contains(['\r', '\n']) {
                return Err(config_error("invalid content type in files="));
            }
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Body::Multipart {
        bytes: out,
        content_type: format!("multipart/form-data; boundary={boundary}"),
    })
}

/// A part's content: bytes-like, `str` (UTF-8), or a file object's `read()`.
fn file_content(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if obj.hasattr("read")? {
        let read = obj.call_method0("read")?;
        return file_content(&read);
    }
    obj.extract::<Vec<u8>>().map_err(|_| {
        config_error(
            "files= values must be bytes, str, a file object or a (filename, content) tuple",
        )
    })
}

/// A name or file name inside a quoted `Content-Disposition` parameter (as browsers and httpx
/// escape it).
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A boundary that occurs in no part.
fn boundary(parts: &[Part]) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let b = format!("keyswap-{nanos:016x}{n:08x}");
        if !parts
            .iter()
            .any(|p| p.3.windows(b.len()).any(|w| w == b.as_bytes()))
        {
            return b;
        }
    }
}

/// `cookies=`: a mapping or pairs, sent as one `Cookie` header (after one the caller set in
/// `headers=`). Errors name the cookie, never its value.
pub(crate) fn cookies(obj: &Bound<'_, PyAny>, headers: &mut HeaderMap) -> PyResult<()> {
    use keyswap::reqwest::header::COOKIE;
    let mut parts = Vec::new();
    for (k, v) in pairs(obj, "cookies")? {
        let name = scalar(&k)?;
        if name.is_empty() || name.contains([';', '=', ',', ' ', '\r', '\n', '\t']) {
            return Err(config_error(format!("invalid cookie name {name:?}")));
        }
        let value = scalar(&v)?;
        if value.contains([';', '\r', '\n']) {
            return Err(config_error(format!(
                "invalid value for cookie {name} (not shown)"
            )));
        }
        parts.push(format!("{name}={value}"));
    }
    if parts.is_empty() {
        return Ok(());
    }
    let mut joined = parts.join("; ");
    if let Some(existing) = headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
        joined = format!("{existing}; {joined}");
    }
    let value = HeaderValue::from_str(&joined)
        .map_err(|_| config_error("invalid cookie value (not shown)"))?;
    headers.insert(COOKIE, value);
    Ok(())
}
