//! keyswap as a [`tower`] layer (feature `tower`): the same rotation engine as [`Client`] around
//! any `http` client service — a hyper-util client, a tonic channel, your own.
//!
//! - The **inner service** takes `http::Request<reqwest::Body>` and answers
//!   `http::Response<B>` for any `http_body::Body<Data = Bytes>` `B` (`Sync` or not). A service
//!   that wants another request body type gets it from `tower`'s `map_request` (a tonic
//!   channel: `tonic::body::Body::new`, see below).
//! - The **layer's service** takes `http::Request<B>` for any `http_body::Body<Data = Bytes>`
//!   `B` (`reqwest::Body`, `String`, `http_body_util::Full`, `tonic::body::Body`, …) and answers
//!   `http::Response<reqwest::Body>`, whose body streams, trailers included.
//! - **URIs must be absolute** (scheme and host): keyswap decides per origin whether the
//!   credential goes along. A relative one fails with [`Error::is_builder`].
//!
//! # Request bodies and retries
//!
//! A retry after a rotation sends the request again, so its body must be at hand twice. The
//! layer keeps the body in memory when it is complete now — all of it readable without waiting,
//! or of a known length — and at most [`max_replay_body`](KeyswapLayer::max_replay_body)
//! ([`DEFAULT_MAX_REPLAY_BODY`]) bytes: a gRPC unary call, a client-streaming call over a finite
//! stream, any ordinary request. A body held as one chunk is not copied. Any other body (larger,
//! or a stream still waiting — a bidirectional gRPC call) is sent as it comes, once: if its
//! credential is rejected, the server's answer is returned as it is, as for a streamed body on
//! [`Client`]. A request body's trailers make it such a stream too.
//!
//! # gRPC (tonic)
//!
//! A gRPC server rejects a call with HTTP 200 and `grpc-status` in the headers (a
//! "trailers-only" response: what tonic sends for a `Status` returned by an interceptor or a
//! unary handler). keyswap reads it like an HTTP status, as the gRPC spec maps them:
//! UNAUTHENTICATED (16) counts as 401 and PERMISSION_DENIED (7) as 403, so
//! the [`RejectionPolicy`](crate::RejectionPolicy) statuses decide for gRPC too (by default:
//! UNAUTHENTICATED is a credential rejection, absorbed like a 401). When keyswap cannot absorb
//! it, the caller gets the server's answer: tonic reports `Code::Unauthenticated`. Limit: a
//! `grpc-status` sent in real trailers, after response messages (a streaming call failing
//! midway), arrives after the body and is not classified.
//!
//! Put the channel under the layer, converting the body type, and give the generated client the
//! channel's origin (`with_origin`: tonic's clients otherwise send path-only URIs). As for any
//! request, a key goes over plain `http://` (h2c) only to loopback unless the client allows it
//! ([`allow_insecure_http`](crate::ClientBuilder::allow_insecure_http)).
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use keyswap::{Auth, Client, Source};
//! use tonic::transport::{Endpoint, Uri};
//! use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
//!
//! let keys = Client::builder()
//!     .source(Source::file("/run/secrets/api_key"))
//!     .auth(Auth::header("x-api-key")) // gRPC metadata is HTTP/2 headers
//!     .build()
//!     .await?;
//! let origin = Uri::from_static("http://127.0.0.1:50051");
//! let channel = Endpoint::from(origin.clone()).connect().await?;
//! let service = tower::ServiceBuilder::new()
//!     .layer(keyswap::tower::KeyswapLayer::new(keys))
//!     .map_request(|r: http::Request<keyswap::reqwest::Body>| r.map(tonic::body::Body::new))
//!     .service(channel);
//! let mut health = HealthClient::with_origin(service, origin);
//! let reply = health.check(HealthCheckRequest { service: String::new() }).await?;
//! # let _ = reply; Ok(()) }
//! ```
//!
//! `cargo run --example tonic_grpc --features tower` runs a server that rotates its key with
//! hard revocation under such a client.
//!
//! # hyper-util
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hyper_util::client::legacy::Client as HyperClient;
//! use hyper_util::rt::TokioExecutor;
//! use keyswap::{Auth, Client, Source};
//! use tower::ServiceBuilder;
//!
//! let keys = Client::builder().source(Source::fixed("k")).auth(Auth::bearer()).build().await?;
//! let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<keyswap::reqwest::Body>();
//! let service = ServiceBuilder::new()
//!     .layer(keyswap::tower::KeyswapLayer::new(keys))
//!     .service(hyper);
//! # let _ = service; Ok(()) }
//! ```

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use reqwest::{Request, Response};
use tower::ServiceExt;

use crate::body::Prefixed;
use crate::client::Client;
use crate::error::{Error, Kind, Result};
use crate::transport::Transport;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default for [`KeyswapLayer::max_replay_body`]: 4 MiB (gRPC's default largest message).
pub const DEFAULT_MAX_REPLAY_BODY: usize = 4 * 1024 * 1024;

/// Wraps a service in [`KeyswapService`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KeyswapLayer {
    client: Client,
    max_replay_body: usize,
}

impl KeyswapLayer {
    /// A layer using `client`'s credential, settings and counters (the client's own
    /// `reqwest::Client` is not used: requests go to the inner service).
    pub fn new(client: Client) -> Self {
        KeyswapLayer {
            client,
            max_replay_body: DEFAULT_MAX_REPLAY_BODY,
        }
    }

    /// The largest request body kept in memory to be sent again after a rotation (see the
    /// [module docs](self#request-bodies-and-retries)); a larger one is streamed, sent once.
    /// Default: [`DEFAULT_MAX_REPLAY_BODY`].
    pub fn max_replay_body(mut self, bytes: usize) -> Self {
        self.max_replay_body = bytes;
        self
    }
}

impl<S> tower::Layer<S> for KeyswapLayer {
    type Service = KeyswapService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyswapService {
            client: self.client.clone(),
            max_replay_body: self.max_replay_body,
            inner,
        }
    }
}

/// Attaches the current credential to every request, classifies the answer, recovers from a
/// rotation and re-signs, sending each attempt through the inner service. Always ready: each
/// attempt drives a clone of the inner service to readiness itself.
#[derive(Clone, Debug)]
pub struct KeyswapService<S> {
    client: Client,
    max_replay_body: usize,
    inner: S,
}

/// The inner service as the engine's transport.
struct Inner<S>(S);

impl<S, B> Transport for Inner<S>
where
    S: tower::Service<http::Request<reqwest::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    #[allow(clippy::manual_async_fn)] // the trait's signature (a `Send` future)
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send {
        let service = self.0.clone();
        async move {
            let url = request.url().clone();
            let request = http::Request::try_from(request).map_err(Error::request)?;
            let resp = service.oneshot(request).await.map_err(|e| {
                Error::new(Kind::Request, "the inner service failed").with_cause(e.into())
            })?;
            let (parts, body) = resp.into_parts();
            let body = reqwest::Body::wrap(SyncBody::new(Box::pin(body)));
            let resp = Response::from(http::Response::from_parts(parts, body));
            Ok(crate::response::with_url(resp, url))
        }
    }
}

impl<S, B, ReqBody> tower::Service<http::Request<ReqBody>> for KeyswapService<S>
where
    S: tower::Service<http::Request<reqwest::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ReqBody: HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (client, inner) = (self.client.clone(), Inner(self.inner.clone()));
        let max_replay_body = self.max_replay_body;
        let max_redirects = request
            .extensions()
            .get::<crate::MaxRedirects>()
            .map(|m| m.0);
        Box::pin(async move {
            let request = to_reqwest(request, max_replay_body).await?;
            let resp = crate::engine::execute(
                client.engine(),
                crate::engine::Route::Skin(&inner),
                Ok(request),
                max_redirects,
                crate::engine::Built::Elsewhere,
            )
            .await?;
            Ok(http::Response::from(resp))
        })
    }
}

/// The caller's request as reqwest's, its body replayable when it can be (module docs).
async fn to_reqwest<B>(request: http::Request<B>, max: usize) -> Result<Request>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
        // Path only: a relative URI's query could hold anything.
        return Err(Error::builder(format!(
            "the request URI {:?} has no scheme and host: keyswap decides per origin whether \
             the credential goes along, so requests through the tower layer need absolute URIs \
             (a tonic client: build it `with_origin`)",
            parts.uri.path()
        )));
    }
    let body = replayable(body, max).await?;
    Request::try_from(http::Request::from_parts(parts, body)).map_err(Error::request)
}

/// `body` as reqwest's: in memory (replayable) when it is complete now or of a known length,
/// and at most `max` bytes; otherwise what was read followed by the rest, streamed.
async fn replayable<B>(body: B, max: usize) -> Result<reqwest::Body>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    // A body of a known length within the bound is awaited whole. Any other is read only as far
    // as it is at hand: a stream may wait for the server's answer (a bidirectional call), and
    // waiting for its end would never send the request.
    let whole = body
        .size_hint()
        .upper()
        .is_some_and(|len| len <= max as u64);
    let mut read: Vec<Frame<Bytes>> = Vec::new();
    let mut len = 0usize;
    loop {
        let next = if whole {
            Some(body.frame().await)
        } else {
            at_hand(&mut body).await
        };
        let frame = match next {
            Some(None) => return Ok(reqwest::Body::from(concat(read, len))),
            Some(Some(Ok(frame))) => frame,
            Some(Some(Err(err))) => {
                return Err(
                    Error::new(Kind::Request, "reading the request body failed").with_cause(err)
                );
            }
            None => break, // still streaming
        };
        let Some(data) = frame.data_ref() else {
            read.push(frame); // trailers: sent as they are, with the stream
            break;
        };
        len += data.len();
        read.push(frame);
        if len > max {
            break;
        }
    }
    tracing::debug!(
        max_replay_body = max,
        "request body streamed (still streaming, larger than the bound, or with trailers): \
         it is sent once and not retried after a rejection"
    );
    let rest = Prefixed::new(read.into(), body);
    Ok(reqwest::Body::wrap(SyncBody::new(rest)))
}

/// The next frame of `body` if it is ready now: `None` if the body would wait.
async fn at_hand<B: HttpBody + ?Sized>(
    body: &mut Pin<Box<B>>,
) -> Option<Option<std::result::Result<Frame<B::Data>, B::Error>>> {
    poll_fn(|cx| match body.as_mut().poll_frame(cx) {
        Poll::Ready(frame) => Poll::Ready(Some(frame)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// The data frames as one `Bytes` (no copy when there is one).
fn concat(frames: Vec<Frame<Bytes>>, len: usize) -> Bytes {
    let mut data = frames.into_iter().filter_map(|f| f.into_data().ok());
    match (data.next(), data.next()) {
        (None, _) => Bytes::new(),
        (Some(one), None) => one,
        (Some(first), Some(second)) => {
            let mut all = BytesMut::with_capacity(len);
            for chunk in [first, second].into_iter().chain(data) {
                all.extend_from_slice(&chunk);
            }
            all.freeze()
        }
    }
}

/// A body that is `Sync` whatever it wraps (reqwest's body must be; tonic's is not): polled
/// through `&mut` without locking, the lock taken only for the `&self` size queries.
struct SyncBody<B>(Mutex<B>);

impl<B> SyncBody<B> {
    fn new(body: B) -> Self {
        SyncBody(Mutex::new(body))
    }
}

impl<B: HttpBody + Unpin> HttpBody for SyncBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<B::Data>, B::Error>>> {
        let body = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A body yielding `script` in order; `None` is one `Pending` (its waker woken at once).
    struct Scripted(VecDeque<Option<Frame<Bytes>>>);

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
            match self.get_mut().0.pop_front() {
                Some(Some(frame)) => Poll::Ready(Some(Ok(frame))),
                Some(None) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                None => Poll::Ready(None),
            }
        }
    }

    fn scripted(script: Vec<Option<Frame<Bytes>>>) -> Scripted {
        Scripted(script.into())
    }

    fn data(s: &'static str) -> Option<Frame<Bytes>> {
        Some(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    async fn read_all(body: reqwest::Body) -> (Vec<u8>, bool) {
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().is_some();
        (collected.to_bytes().to_vec(), trailers)
    }

    #[tokio::test]
    async fn a_body_at_hand_is_kept_replayable() {
        let one = Bytes::from_static(b"one chunk");
        let body = replayable(reqwest::Body::from(one.clone()), 1024)
            .await
            .unwrap();
        // In memory (what `try_clone` and so a retry needs), and not copied.
        assert_eq!(body.as_bytes().unwrap().as_ptr(), one.as_ptr());
        assert_eq!(read_all(body).await.0, b"one chunk");

        let body = replayable(scripted(vec![data("ab"), data("cd")]), 1024)
            .await
            .unwrap();
        assert_eq!(body.as_bytes(), Some(&b"abcd"[..]));
        let empty = replayable(scripted(vec![]), 1024).await.unwrap();
        assert_eq!(empty.as_bytes(), Some(&b""[..]));
    }

    #[tokio::test]
    async fn a_waiting_large_or_trailed_body_is_streamed_whole() {
        // Still streaming: not waited for.
        let body = replayable(scripted(vec![data("ab"), None, data("cd")]), 1024)
            .await
            .unwrap();
        assert!(body.as_bytes().is_none(), "streamed");
        assert_eq!(read_all(body).await, (b"abcd".to_vec(), false));

        // Over the bound.
        let body = replayable(scripted(vec![data("abc"), data("def"), data("g")]), 4)
            .await
            .unwrap();
        assert!(body.as_bytes().is_none(), "streamed");
        assert_eq!(read_all(body).await, (b"abcdefg".to_vec(), false));

        // Trailers go along.
        let trailers = Some(Frame::trailers(http::HeaderMap::new()));
        let body = replayable(scripted(vec![data("ab"), trailers]), 1024)
            .await
            .unwrap();
        assert!(body.as_bytes().is_none(), "streamed");
        assert_eq!(read_all(body).await, (b"ab".to_vec(), true));
    }
}
