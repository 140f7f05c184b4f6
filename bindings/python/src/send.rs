//! Sends a prepared request through the core and turns what it returns into a `Response`: the
//! core attaches, signs, classifies, recovers and follows redirects; this only carries its
//! verdict (`keyswap::verdict`) and its redirects along.

use std::sync::Arc;

use keyswap::reqwest::Version;
use keyswap::reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::convert::{self, Body};
use crate::prepare::Prepared;
use crate::response::{Head, Response};
use crate::streaming::{ResponseBody, Stream};

/// Sends `p` through `http` (the calling thread's pool of the blocking `Client`, or the shared
/// runtime's), or through the client's own `reqwest::Client` when `None` (mTLS).
pub(crate) async fn send(
    p: Prepared,
    http: Option<&keyswap::reqwest::Client>,
) -> keyswap::Result<Response> {
    let method = p.method.as_str().to_owned();
    let mut b = p.client.request(p.method, &p.url);
    if !p.query.is_empty() {
        b = b.query(&p.query);
    }
    let mut headers = p.headers;
    match p.body {
        Body::None => {}
        Body::Bytes {
            bytes,
            content_type,
        } => {
            convert::default_content_type(&mut headers, content_type);
            b = b.body(bytes);
        }
        Body::Form(fields) => b = b.form(&fields),
        Body::Multipart {
            bytes,
            content_type,
        } => {
            if let Ok(ct) = HeaderValue::from_str(&content_type) {
                headers.insert(CONTENT_TYPE, ct);
            }
            b = b.body(bytes);
        }
    }
    if !headers.is_empty() {
        b = b.headers(headers);
    }
    if let Some(t) = p.timeout {
        b = b.timeout(t);
    }
    if let Some(max) = p.max_redirects {
        b = b.max_redirects(max);
    }
    let started = std::time::Instant::now();
    let mut resp = match http {
        Some(http) => b.send_with(http).await?,
        None => b.send().await?,
    };
    let version = match resp.version() {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    };
    let mut head = Head {
        status: resp.status().as_u16(),
        // Moved out, not copied: the body does not need them.
        headers: std::mem::take(resp.headers_mut()),
        // The core has already removed a query-parameter credential from the response's URL.
        url: resp.url().to_string(),
        version,
        method,
        elapsed: Default::default(),
        redirects: keyswap::redirects(&resp).to_vec(),
        // The core's verdict, reached when the response arrived (a body it had to read for
        // it, Kraken's HTTP 200 rejections, reads here as the server sent it).
        rejected: keyswap::verdict(&resp) == keyswap::Rejection::Credential,
    };
    let body = if p.stream {
        // The body stays with the connection until `iter_bytes`/`read` asks for it.
        ResponseBody::Stream(Stream {
            resp,
            rt: p.stream_rt,
            downloaded: Arc::default(),
        })
    } else {
        ResponseBody::Read(resp.bytes().await.map_err(keyswap::Error::from)?)
    };
    head.elapsed = started.elapsed();
    Ok(Response::new(head, body))
}
