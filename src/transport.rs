//! The one abstract step the engine needs from a skin: "send this request, once". `Client`
//! sends through its `reqwest::Client`; the reqwest-middleware skin through the rest of the
//! middleware chain. Everything else — attach, classify, recover, re-sign, redirects — is the
//! engine's (`engine/`), the same for every skin.

use std::future::Future;

use reqwest::{Request, Response};

use crate::error::{Error, Result};

pub(crate) trait Transport: Sync {
    /// Sends `request` as it is; errors are transport errors (never retried by keyswap).
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send;
}

impl Transport for reqwest::Client {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send {
        let sent = self.execute(request);
        async move { sent.await.map_err(Error::request) }
    }
}
