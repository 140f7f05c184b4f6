//! Rebuilding a `reqwest::Response`: with another URL (a credential stripped from it), or with
//! its body read into memory (to classify it) and handed back byte for byte.

use std::collections::VecDeque;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use reqwest::{Response, Url};

use crate::body::{Failed, Prefixed};

/// The largest body read to classify a response (an exchange error is a few hundred bytes).
pub(crate) const MAX_CLASSIFIED_BODY: usize = 64 * 1024;

/// `resp` reporting `url` as its URL; status, headers, extensions and body unchanged.
pub(crate) fn with_url(resp: Response, url: Url) -> Response {
    let (mut parts, body) = http::Response::from(resp).into_parts();
    set_url(&mut parts, url);
    Response::from(http::Response::from_parts(parts, body))
}

fn set_url(parts: &mut http::response::Parts, url: Url) {
    // `ResponseBuilderExt::url` is the only public way to give a response a URL: take the
    // extension it sets from an empty builder.
    use reqwest::ResponseBuilderExt;
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
}

/// Reads the body of `resp` if it is at most `max` bytes (by `Content-Length`, or as it
/// arrives). Returns the response, whose body reads exactly as the original would have, and
/// the bytes when the whole body fit. A body that turns out bigger is handed back whole: what
/// was read, followed by the rest of the stream. A read error is kept for the consumer to see
/// when it reads the body.
pub(crate) async fn buffered(resp: Response, max: usize) -> (Response, Option<Bytes>) {
    if resp.content_length().is_some_and(|len| len > max as u64) {
        return (resp, None);
    }
    let url = resp.url().clone();
    let (mut parts, mut body) = http::Response::from(resp).into_parts();
    set_url(&mut parts, url);
    let mut read: Vec<u8> = Vec::new();
    loop {
        match body.frame().await {
            None => {
                let bytes = Bytes::from(read);
                let resp = http::Response::from_parts(parts, reqwest::Body::from(bytes.clone()));
                return (Response::from(resp), Some(bytes));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                }
                if read.len() > max {
                    let read = VecDeque::from([Frame::data(Bytes::from(read))]);
                    let rest = Prefixed::new(read, Box::pin(body));
                    let resp = http::Response::from_parts(parts, reqwest::Body::wrap(rest));
                    return (Response::from(resp), None);
                }
            }
            Some(Err(err)) => {
                let read = VecDeque::from([Frame::data(Bytes::from(read))]);
                let rest = Prefixed::new(read, Box::pin(Failed(Some(err))));
                let resp = http::Response::from_parts(parts, reqwest::Body::wrap(rest));
                return (Response::from(resp), None);
            }
        }
    }
}
