//! The copy of a hop's request that a retry or a redirect is built from, made before the
//! request is sent (reqwest consumes what it sends) and, on the steady path, dropped unused.
//!
//! `Request::try_clone` copies everything, extensions included, and in doing so gives every
//! copy an extension map of its own (it sets the copy's timeout through `timeout_mut`): two
//! allocations and a hash insert per request, for a copy that is almost never used. A request
//! from keyswap's own [`RequestBuilder`](crate::RequestBuilder) can carry no extension but its
//! timeout (reqwest's builder sets no other), so when it has no body its parts are all a retry
//! needs: they are kept as they are, and a `Request` is made from them only when one is sent.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, Request, Url, Version};

/// Where the request handed to the engine was built: what its copy may leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Built {
    /// By keyswap's [`RequestBuilder`](crate::RequestBuilder): no extension but its timeout.
    Here,
    /// By the caller (`Client::execute`, the middleware and tower skins): it may carry any
    /// extension, so it is copied whole.
    Elsewhere,
}

/// A replayable copy of a request, without the credential (taken before it is attached).
pub(super) enum Replay {
    /// reqwest's own copy, extensions and body included.
    Whole(Request),
    /// A bodiless request with no extension but its timeout.
    Parts(Parts),
}

/// What a bodiless request from keyswap's builder is made of.
#[derive(Clone)]
pub(super) struct Parts {
    method: Method,
    url: Url,
    headers: HeaderMap,
    version: Version,
    timeout: Option<Duration>,
}

impl Replay {
    /// A copy of `request`, `None` when its body is a stream (it cannot be sent again).
    pub(super) fn of(request: &Request, built: Built) -> Option<Replay> {
        if built == Built::Here && request.body().is_none() {
            return Some(Replay::Parts(Parts {
                method: request.method().clone(),
                url: request.url().clone(),
                headers: request.headers().clone(),
                version: request.version(),
                timeout: request.timeout().copied(),
            }));
        }
        request.try_clone().map(Replay::Whole)
    }

    /// Another copy, to send (the one kept stays for a later retry).
    pub(super) fn request(&self) -> Option<Request> {
        match self {
            Replay::Whole(request) => request.try_clone(),
            Replay::Parts(parts) => Some(parts.clone().into_request()),
        }
    }

    /// The copy as a request.
    pub(super) fn into_request(self) -> Request {
        match self {
            Replay::Whole(request) => request,
            Replay::Parts(parts) => parts.into_request(),
        }
    }
}

impl Parts {
    fn into_request(self) -> Request {
        let mut request = Request::new(self.method, self.url);
        *request.headers_mut() = self.headers;
        *request.version_mut() = self.version;
        // Only when set: `timeout_mut` gives the request an extension map of its own.
        if self.timeout.is_some() {
            *request.timeout_mut() = self.timeout;
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    /// The copy from parts is the request a fresh `try_clone` would give: method, URL,
    /// headers, version, timeout.
    #[test]
    fn parts_give_the_same_request_as_a_whole_copy() {
        let request = client()
            .request(Method::PATCH, "https://api.example.com/v1/orders?id=7")
            .header("x-trace", "abc")
            .header("accept", "application/json")
            .version(Version::HTTP_11)
            .timeout(Duration::from_millis(1500))
            .build()
            .unwrap();
        let parts = Replay::of(&request, Built::Here).unwrap();
        assert!(matches!(parts, Replay::Parts(_)));
        let whole = request.try_clone().unwrap();
        for copy in [parts.request().unwrap(), parts.into_request()] {
            assert_eq!(copy.method(), whole.method());
            assert_eq!(copy.url(), whole.url());
            assert_eq!(copy.headers(), whole.headers());
            assert_eq!(copy.version(), whole.version());
            assert_eq!(copy.timeout(), whole.timeout());
            assert!(copy.body().is_none());
        }
    }

    #[test]
    fn no_timeout_stays_no_timeout() {
        let request = client().get("https://api.example.com/").build().unwrap();
        let copy = Replay::of(&request, Built::Here).unwrap().into_request();
        assert_eq!(copy.timeout(), None);
        assert!(copy.headers().is_empty());
    }

    /// A body, or a request built elsewhere, is copied whole by reqwest.
    #[test]
    fn bodies_and_foreign_requests_are_copied_whole() {
        let with_body = client()
            .post("https://api.example.com/v1/orders")
            .body("{\"qty\":1}")
            .build()
            .unwrap();
        let copy = Replay::of(&with_body, Built::Here).unwrap();
        assert!(matches!(copy, Replay::Whole(_)));
        let body = copy.into_request();
        assert_eq!(
            body.body().and_then(|b| b.as_bytes()),
            Some(&b"{\"qty\":1}"[..])
        );

        let foreign = client().get("https://api.example.com/").build().unwrap();
        assert!(matches!(
            Replay::of(&foreign, Built::Elsewhere),
            Some(Replay::Whole(_))
        ));
    }

    #[test]
    fn a_streamed_body_has_no_copy() {
        let stream =
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("chunk"))]);
        let request = client()
            .post("https://api.example.com/upload")
            .body(reqwest::Body::wrap_stream(stream))
            .build()
            .unwrap();
        assert!(Replay::of(&request, Built::Here).is_none());
    }
}
