//! Retry: the caller's request again, from its replayable template, with a credential the
//! recover path chose (attach, send, classify).

use reqwest::Request;

use super::classify::{self, Attempt};
use super::state::Engine;
use crate::credential::Credential;
use crate::error::{Error, Kind, Result};
use crate::transport::Transport;

/// Sends `template` again with `cred`: attached, sent, classified, counted.
pub(super) async fn retry<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: &Request,
    cred: &Credential,
) -> Result<Attempt> {
    let mut request = template
        .try_clone()
        .ok_or_else(|| Error::new(Kind::Request, "request body cannot be replayed"))?;
    engine
        .auth
        .apply(&mut request, cred, &engine.signing.context())?;
    engine.counters.retries.inc();
    tracing::debug!(version = %cred.version(), "retrying with another credential");
    engine.metrics.request(cred);
    let attempt = classify::send(engine, transport, request).await?;
    if matches!(attempt, Attempt::Rejected(_)) {
        engine.metrics.rejected(cred);
    }
    Ok(attempt)
}
