//! Test helpers shared by the signer tests.

use std::time::Duration;

use super::clock::from_unix_ms;
use super::{Clock, Nonces, SignError};
use crate::time::ManualTime;

/// A clock and nonce source standing at `unix_ms`, and the handle that moves them.
pub(crate) struct Fixture {
    pub time: ManualTime,
    pub clock: Clock,
    pub nonces: Nonces,
}

/// Manual time whose wall clock stands at `unix_ms`.
pub(crate) fn manual_at(unix_ms: i64) -> ManualTime {
    ManualTime::starting_at(from_unix_ms(unix_ms))
}

impl Fixture {
    pub fn at(unix_ms: i64) -> Self {
        let time = manual_at(unix_ms);
        Fixture {
            clock: Clock::with_time_source(time.clone()),
            nonces: Nonces::with_time_source(time.clone()),
            time,
        }
    }

    /// Moves the host time forward by `ms`.
    pub fn advance_ms(&self, ms: u64) {
        self.time.advance(Duration::from_millis(ms));
    }

    pub fn ctx(&self) -> super::SignContext<'_> {
        super::SignContext::new(&self.clock, &self.nonces)
    }
}

pub(crate) fn request(method: &str, url: &str, body: Option<&str>) -> reqwest::Request {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Request::new(method, url.parse().expect("url"));
    if let Some(b) = body {
        *req.body_mut() = Some(reqwest::Body::from(b.to_owned()));
    }
    req
}

pub(crate) fn header<'a>(req: &'a reqwest::Request, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .expect("ascii header")
}

pub(crate) fn body(req: &reqwest::Request) -> String {
    let bytes = req.body().and_then(|b| b.as_bytes()).unwrap_or(&[]);
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

/// Fails if any of `secrets` shows in the error's Display or Debug output.
pub(crate) fn assert_no_leak(err: &SignError, secrets: &[&str]) {
    let shown = format!("{err} {err:?} {err:#?}");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!shown.contains(s), "secret material in error: {shown}");
    }
}

/// A request whose body is a stream (cannot be signed).
pub(crate) fn streaming_request(url: &str) -> reqwest::Request {
    let mut req = request("POST", url, None);
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![Ok(b"a=1")];
    *req.body_mut() = Some(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks,
    )));
    req
}

pub(crate) fn json_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h
}

pub(crate) fn html_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    h
}
