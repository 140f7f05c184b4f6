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

/// Where a request is sent: through the client's own transport, or a skin's.
pub(crate) enum Route<'t, T> {
    /// The client's own: picked from the engine when the request is sent.
    Own,
    /// A skin's.
    Skin(&'t T),
}

impl<T> Clone for Route<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Route<'_, T> {}

/// [`Route::Own`] where no skin's transport type is at hand.
pub(crate) const OWN: Route<'static, reqwest::Client> = Route::Own;

/// The transport a request goes through. Two lifetimes: a borrow of the engine (inside the
/// request's future) and the skin's, so that the second never has to outlive the first.
pub(crate) enum Picked<'e, 't, T> {
    Tls(&'e Tls),
    Http(&'e reqwest::Client),
    Skin(&'t T),
}

impl<'t, T> Route<'t, T> {
    /// The transport for a request through `engine`.
    pub(super) fn pick<'e>(self, engine: &'e Engine) -> Picked<'e, 't, T> {
        match (self, &engine.tls) {
            (Route::Skin(skin), _) => Picked::Skin(skin),
            (Route::Own, Some(tls)) => Picked::Tls(tls),
            (Route::Own, None) => Picked::Http(&engine.http),
        }
    }
}

impl<T: Transport> Transport for Picked<'_, '_, T> {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send {
        match *self {
            Picked::Tls(tls) => Either::Left(Either::Left(tls.send(request))),
            Picked::Http(http) => Either::Left(Either::Right(http.send(request))),
            Picked::Skin(skin) => Either::Right(skin.send(request)),
        }
    }
}
