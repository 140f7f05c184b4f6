//! Which transport a request goes through: a skin's own (the rest of a middleware chain, a
//! tower service, a caller's `reqwest::Client`), or the client's (its `reqwest::Client`, or
//! with a client certificate the identity's current generation). The client's is picked from
//! the engine inside the request's future, so that the future can own the engine and be
//! `'static` without a second future around it.

use futures_util::future::Either;
use reqwest::{Request, Response};

use super::state::Engine;
use crate::error::Result;
use crate::tls::Tls;
use crate::transport::Transport;

/// Where a request is sent, given the engine it goes through.
pub(crate) trait Route: Send + Sync {
    /// The transport picked.
    type To<'a>: Transport + Send
    where
        Self: 'a;

    /// The transport for a request through `engine`.
    fn pick<'a>(&'a self, engine: &'a Engine) -> Self::To<'a>;
}

/// A skin's own transport.
impl<T: Transport> Route for &T {
    type To<'a>
        = &'a T
    where
        Self: 'a;

    fn pick<'a>(&'a self, _: &'a Engine) -> &'a T {
        self
    }
}

/// The client's own transport.
pub(crate) struct Own;

/// The client's `reqwest::Client`, or its identity's current generation.
pub(crate) enum OwnTransport<'a> {
    Tls(&'a Tls),
    Http(&'a reqwest::Client),
}

impl Route for Own {
    type To<'a> = OwnTransport<'a>;

    fn pick<'a>(&'a self, engine: &'a Engine) -> OwnTransport<'a> {
        match &engine.tls {
            Some(tls) => OwnTransport::Tls(tls),
            None => OwnTransport::Http(&engine.http),
        }
    }
}

impl Transport for OwnTransport<'_> {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send {
        match *self {
            OwnTransport::Tls(tls) => Either::Left(tls.send(request)),
            OwnTransport::Http(http) => Either::Right(http.send(request)),
        }
    }
}
