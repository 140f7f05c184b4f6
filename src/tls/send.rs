//! Sending through the generation in use: one atomic load per request, the generation's id
//! recorded on a 4xx response (so the recover path knows which pool a 401/403 came from), and a
//! certificate refusal told apart from other transport errors.

use std::sync::Arc;

use reqwest::{Request, Response};

use super::alert::{Refused, identity_refusal};
use super::identity::ClientIdentity;
use super::state::Tls;
use crate::error::{Error, Result, redact_reqwest};
use crate::transport::Transport;

/// On a response: the generation whose connection carried it, and its identity.
#[derive(Clone, Debug)]
pub(crate) struct SentOn {
    pub(crate) generation: u64,
    pub(crate) identity: Arc<ClientIdentity>,
}

impl Transport for Tls {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response>> + Send {
        // Cloned, not borrowed: a guard must not be held across the await. reqwest's future is
        // made here, outside the `async` block, so the request (264 bytes) is not kept in its
        // state: this future is inline in every request's, and its size is copied with it.
        let generation = self.current();
        let sent = generation.as_ref().map(|g| g.http.execute(request));
        async move {
            let (Some(generation), Some(sent)) = (generation, sent) else {
                return Err(Error::builder("the client certificate is not loaded yet"));
            };
            match sent.await {
                Ok(mut resp) => {
                    // Only an answer that may be a refusal needs it (none on the steady path).
                    if resp.status().is_client_error() {
                        resp.extensions_mut().insert(SentOn {
                            generation: generation.id,
                            identity: generation.identity.clone(),
                        });
                    }
                    Ok(resp)
                }
                Err(err) => Err(match identity_refusal(&err) {
                    Some(alert) => Refused {
                        generation: generation.id,
                        version: generation.identity.version.clone(),
                        at: std::time::Instant::now(),
                        alert,
                        source: Box::new(redact_reqwest(err)),
                    }
                    .into_error("HTTP request failed"),
                    None => Error::request(err),
                }),
            }
        }
    }
}
