//! keyswap as a [`tower`] layer (feature `tower`): the same rotation engine as [`Client`] around
//! any `http` client service — a hyper-util client, a tonic channel's HTTP stack, your own.
//!
//! The inner service takes `http::Request<reqwest::Body>` (reqwest's body type is an
//! `http_body::Body`, and a replayable one, which a retry after a rotation needs) and answers
//! `http::Response<B>` for any `http_body::Body` `B`. The layer's service takes
//! `http::Request<B>` for any `B: Into<reqwest::Body>` and answers
//! `http::Response<reqwest::Body>`.
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use reqwest::{Request, Response};
use tower::ServiceExt;

use crate::client::Client;
use crate::error::{Error, Kind, Result};
use crate::transport::Transport;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a service in [`KeyswapService`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KeyswapLayer {
    client: Client,
}

impl KeyswapLayer {
    /// A layer using `client`'s credential, settings and counters (the client's own
    /// `reqwest::Client` is not used: requests go to the inner service).
    pub fn new(client: Client) -> Self {
        KeyswapLayer { client }
    }
}

impl<S> tower::Layer<S> for KeyswapLayer {
    type Service = KeyswapService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyswapService {
            client: self.client.clone(),
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
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
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
            let resp = Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)));
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
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
    ReqBody: Into<reqwest::Body>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (client, inner) = (self.client.clone(), Inner(self.inner.clone()));
        let max_redirects = request
            .extensions()
            .get::<crate::MaxRedirects>()
            .map(|m| m.0);
        let request = Request::try_from(request).map_err(Error::request);
        Box::pin(async move {
            let resp = client.execute_via(&inner, request?, max_redirects).await?;
            Ok(http::Response::from(resp))
        })
    }
}
