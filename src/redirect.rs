//! Redirects, followed by keyswap rather than reqwest, so each hop decides again whether the
//! credential goes along.

use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING,
};
use reqwest::{Method, Request, Response, StatusCode};

/// A request's own redirect limit, for requests that do not go through keyswap's
/// [`RequestBuilder`](crate::RequestBuilder) (there, use
/// [`max_redirects`](crate::RequestBuilder::max_redirects)): put it in the request's extensions
/// and the skin reads it — `keyswap::Middleware` from the extensions of a `reqwest-middleware`
/// request (`RequestBuilder::with_extension`), `keyswap::tower::KeyswapService` from those of
/// the `http::Request` it is called with. The number of redirects the request may follow, in
/// place of the client's [`max_redirects`](crate::ClientBuilder::max_redirects); `0` returns a
/// 3xx response as it is.
///
/// ```
/// let mut request = http::Request::get("https://api.example.com/v1/export")
///     .body(keyswap::reqwest::Body::from(""))
///     .unwrap();
/// request.extensions_mut().insert(keyswap::MaxRedirects(0)); // this request: no redirects
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxRedirects(pub usize);

/// A redirect keyswap followed on the way to a response: the status, URL and headers of the
/// response that redirected (its body was not read). The URL is shown as the server saw it,
/// minus a query-parameter credential.
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
}

impl Redirect {
    pub(crate) fn of(resp: &Response) -> Self {
        Redirect {
            status: resp.status(),
            url: resp.url().clone(),
            headers: resp.headers().clone(),
        }
    }

    /// The redirect's status (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The URL that answered with the redirect.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The redirect response's headers (`Location` among them).
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }
}

/// What `RequestBuilder::send` and the other skins leave in a response's extensions.
#[derive(Clone)]
pub(crate) struct History(pub(crate) Vec<Redirect>);

/// The redirects followed to reach `response`, oldest first: empty when there were none. The
/// first one's URL is the URL of the request as it was sent (the response's own `url()` is the
/// last hop's), as httpx's `Response.history`.
///
/// ```
/// # async fn demo(client: keyswap::Client) -> keyswap::Result<()> {
/// let resp = client.get("https://api.example.com/v1/export").send().await?;
/// for hop in keyswap::redirects(&resp) {
///     println!("{} {}", hop.status(), hop.url());
/// }
/// # Ok(()) }
/// ```
pub fn redirects(response: &Response) -> &[Redirect] {
    response
        .extensions()
        .get::<History>()
        .map_or(&[], |h| h.0.as_slice())
}

/// The request a redirect response asks for, built from the previous hop's request (which
/// carries no credential). `None` when the response is not a followable redirect.
pub(crate) fn next_hop(resp: &Response, mut request: Request) -> Option<Request> {
    let to_get = match resp.status() {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => request.method() == Method::POST,
        StatusCode::SEE_OTHER => request.method() != Method::HEAD,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => false,
        _ => return None,
    };
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    let next_url = request.url().join(location).ok()?;
    if !matches!(next_url.scheme(), "http" | "https") {
        return None;
    }
    if next_url.origin() != request.url().origin() {
        // What reqwest strips on a cross-origin redirect, for headers the caller set.
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            request.headers_mut().remove(name);
        }
    }
    if to_get {
        *request.method_mut() = Method::GET;
        *request.body_mut() = None;
        for name in [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING] {
            request.headers_mut().remove(name);
        }
    }
    *request.url_mut() = next_url;
    Some(request)
}
