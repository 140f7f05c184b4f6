//! keyswap as a [`reqwest_middleware::Middleware`] (feature `middleware`): the same rotation
//! engine as [`Client`], inside a `ClientWithMiddleware` stack.
//!
//! # Where it goes in the stack
//!
//! Put retry and tracing middlewares *outside* keyswap (added before it with `.with(..)`):
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use keyswap::{Auth, Client, Middleware, Source};
//! use reqwest_middleware::ClientBuilder;
//! use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
//!
//! let keys = Client::builder()
//!     .source(Source::fixed("k"))
//!     .auth(Auth::header("X-API-Key"))
//!     .build()
//!     .await?;
//! let retry = RetryTransientMiddleware::new_with_policy(
//!     ExponentialBackoff::builder().build_with_max_retries(3),
//! );
//! let http = keyswap::reqwest::Client::builder()
//!     .redirect(keyswap::reqwest::redirect::Policy::none()) // keyswap follows redirects
//!     .build()?;
//! let client = ClientBuilder::new(http)
//!     .with(retry)                   // outside: each retry goes through keyswap again
//!     .with(Middleware::new(keys))   // attaches, classifies, recovers, re-signs
//!     .build();
//! # let _ = client; Ok(()) }
//! ```
//!
//! Why this order: a retry outside keyswap re-enters it, so every attempt carries the
//! credential current *then*, freshly signed (new timestamp, nonce, JWT); an authentication
//! failure is absorbed by keyswap before the retry policy sees anything; and the retry policy
//! never mistakes a rotation for a transient error. Inside keyswap, a retry middleware would
//! replay the request keyswap signed once (a stale nonce or timestamp), hide 401s from keyswap
//! until its own attempts ran out, and see the credential in every attempt's request. Tracing
//! outside keyswap records the response keyswap returns, whose URL carries no query credential.
//! The inner `reqwest::Client` must not follow redirects: keyswap does, deciding per hop
//! whether the credential goes along.
//!
//! `examples/middleware_stack.rs` runs `reqwest-tracing` → `reqwest-retry` → keyswap under
//! rotations with hard revocation and transient 503s (`cargo run --example middleware_stack
//! --features middleware`); `tests/skins.rs` runs the rotation scenarios through that stack and
//! checks that the tracing spans' full URLs never carry a query credential.

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::Next;

use crate::client::Client;
use crate::error::{Error, Kind, Result};
use crate::transport::Transport;

/// The keyswap middleware: attach the current credential, classify the response, recover from
/// a rotation, re-sign — exactly as [`Client`] does. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Middleware {
    client: Client,
}

impl Middleware {
    /// A middleware using `client`'s credential, settings and counters (the client's own
    /// `reqwest::Client` is not used: requests go down the middleware chain).
    pub fn new(client: Client) -> Self {
        Middleware { client }
    }

    /// The client whose credential and counters this middleware uses.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl From<Client> for Middleware {
    fn from(client: Client) -> Self {
        Middleware::new(client)
    }
}

/// The rest of the chain as the engine's transport. Each attempt runs it once.
struct Chain<'a> {
    next: Next<'a>,
    extensions: tokio::sync::Mutex<&'a mut Extensions>,
}

impl Transport for Chain<'_> {
    #[allow(clippy::manual_async_fn)] // the trait's signature (a `Send` future)
    fn send(&self, request: Request) -> impl std::future::Future<Output = Result<Response>> + Send {
        async move {
            let mut extensions = self.extensions.lock().await;
            self.next
                .clone()
                .run(request, &mut extensions)
                .await
                .map_err(from_chain)
        }
    }
}

fn from_chain(err: reqwest_middleware::Error) -> Error {
    match err {
        reqwest_middleware::Error::Reqwest(err) => Error::request(err),
        reqwest_middleware::Error::Middleware(err) => {
            Error::new(Kind::Request, "a middleware after keyswap failed").with_cause(err)
        }
    }
}

fn to_chain(err: Error) -> reqwest_middleware::Error {
    match err.into_reqwest() {
        // A transport error stays one, so a retry middleware outside keyswap can classify it.
        Ok(err) => reqwest_middleware::Error::Reqwest(err),
        Err(err) => reqwest_middleware::Error::Middleware(anyhow::Error::new(err)),
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Middleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let max_redirects = extensions.get::<crate::MaxRedirects>().map(|m| m.0);
        let chain = Chain {
            next,
            extensions: tokio::sync::Mutex::new(extensions),
        };
        crate::engine::execute(
            self.client.engine(),
            crate::engine::Route::Skin(&chain),
            Ok(request),
            max_redirects,
            crate::engine::Built::Elsewhere,
        )
        .await
        .map_err(to_chain)
    }
}
