//! A request's Python arguments converted, with the GIL held, into what the core sends without
//! it.

use std::sync::Arc;
use std::time::Duration;

use keyswap::reqwest::Method;
use keyswap::reqwest::header::HeaderMap;
use pyo3::prelude::*;

use crate::client_state::Inner;
use crate::convert::{self, Body, opt_seconds};
use crate::errors::config_error;
use crate::sync_runtime::SyncRuntime;

/// The arguments of `request` (and of the per-verb methods).
pub(crate) struct Args<'a, 'py> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
    pub(crate) params: Option<&'a Bound<'py, PyAny>>,
    pub(crate) headers: Option<&'a Bound<'py, PyAny>>,
    pub(crate) json: Option<&'a Bound<'py, PyAny>>,
    pub(crate) data: Option<&'a Bound<'py, PyAny>>,
    pub(crate) timeout: Option<f64>,
    pub(crate) stream: bool,
    pub(crate) cookies: Option<&'a Bound<'py, PyAny>>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) files: Option<&'a Bound<'py, PyAny>>,
}

/// A request converted from Python arguments, ready to go without the GIL.
pub(crate) struct Prepared {
    pub(crate) client: keyswap::Client,
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) timeout: Option<Duration>,
    /// This request's redirect limit (`follow_redirects=`); `None`: the client's.
    pub(crate) max_redirects: Option<usize>,
    /// `stream=True`: the body is not read before the response is returned.
    pub(crate) stream: bool,
    /// The blocking `Client`'s `stream=True` request: the runtime its connection lives on,
    /// where the body is read later. `None`: the shared runtime (`AsyncClient`).
    pub(crate) stream_rt: Option<Arc<SyncRuntime>>,
}

impl Prepared {
    pub(crate) fn new(inner: &Inner, args: Args<'_, '_>) -> PyResult<Prepared> {
        let method = parse_method(args.method)?;
        // The core follows redirects itself (each hop decides whether the credential goes
        // along); `follow_redirects` sets this request's limit: False returns the 3xx as is,
        // True follows with the client's limit, or the core's default when the client's is 0.
        let max_redirects = match args.follow_redirects {
            None => None,
            Some(false) => Some(0),
            Some(true) if inner.max_redirects == 0 => {
                Some(keyswap::ClientBuilder::DEFAULT_MAX_REDIRECTS)
            }
            Some(true) => None,
        };
        let mut headers = convert::headers(args.headers)?;
        if let Some(cookies) = args.cookies.filter(|o| !o.is_none()) {
            convert::cookies(cookies, &mut headers)?;
        }
        let body = match args.files.filter(|o| !o.is_none()) {
            Some(files) => {
                if args.json.is_some_and(|j| !j.is_none()) {
                    return Err(config_error("pass either json= or files=, not both"));
                }
                convert::multipart(files, args.data)?
            }
            None => convert::body(args.json, args.data)?,
        };
        Ok(Prepared {
            method,
            url: args.url.to_owned(),
            query: convert::params(args.params, "params")?,
            headers,
            body,
            timeout: opt_seconds("timeout", args.timeout)?,
            max_redirects,
            stream: args.stream,
            stream_rt: None,
            client: inner.client()?,
        })
    }
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
