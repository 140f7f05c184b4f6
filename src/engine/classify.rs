//! Send and classify one attempt: the transport's answer judged by the client's
//! [`Classifier`](crate::classify::Classifier) — from status and headers, or reading a bounded
//! body when a signer or a body rule asks — into accepted, rejected, or to be signed again. The
//! verdict travels with the response ([`crate::verdict`]).

use std::time::SystemTime;

use reqwest::{Request, Response};

use super::state::Engine;
use crate::error::Result;
use crate::scope::display_url;
use crate::sign::Rejection;
use crate::transport::Transport;

/// An attempt's outcome: accepted, rejected as an authentication failure, or rejected for its
/// timestamp or nonce (to be signed again).
pub(super) enum Attempt {
    Accepted(Response),
    Rejected(Response),
    Resign(Rejection, Response),
}

/// Sends one attempt and classifies the answer (the one place that decides).
pub(super) async fn send<T: Transport>(
    engine: &Engine,
    transport: &T,
    request: Request,
) -> Result<Attempt> {
    let signed_at = signed_at(engine);
    let resp = transport.send(request).await?;
    Ok(match judge_head(engine, signed_at, resp) {
        Ok(attempt) => attempt,
        Err(resp) => Box::pin(judge_body(engine, resp)).await,
    })
}

/// When a signing client sends an attempt: the time its `Date` sample is taken against.
pub(super) fn signed_at(engine: &Engine) -> Option<SystemTime> {
    engine
        .classifier
        .signer
        .is_some()
        .then(|| engine.time.system_time())
}

/// The answer to an attempt sent at `signed_at`: its `Date` recorded for a signer's clock,
/// then classified from status and headers. `Err(resp)` when the body must be read to
/// decide (`judge_body`).
#[allow(clippy::result_large_err)] // the response moves through once, never boxed on the hot path
pub(super) fn judge_head(
    engine: &Engine,
    signed_at: Option<SystemTime>,
    resp: Response,
) -> std::result::Result<Attempt, Response> {
    // Only a signer's clock wants the `Date`: no header lookup otherwise.
    if let Some(sent) = signed_at {
        engine.signing.record_date(&resp, sent);
    }
    if engine.classifier.needs_body(&resp) {
        return Err(resp);
    }
    let verdict = engine.classifier.by_head(&resp);
    Ok(conclude(engine, verdict, resp))
}

/// Classifies an answer whose body must be read. Boxed by its callers: rare, and its future
/// is large.
pub(super) async fn judge_body(engine: &Engine, resp: Response) -> Attempt {
    let (verdict, resp) = engine.classifier.classify(resp).await;
    conclude(engine, verdict, resp)
}

fn conclude(engine: &Engine, verdict: Rejection, mut resp: Response) -> Attempt {
    if verdict != Rejection::None {
        // Rare: the verdict travels with the response, for the skins (`crate::verdict`).
        resp.extensions_mut()
            .insert(crate::classify::Verdict(verdict));
    }
    match verdict {
        Rejection::Credential => {
            engine.counters.auth_failures.inc();
            tracing::debug!(
                status = resp.status().as_u16(),
                url = %display_url(resp.url()),
                "credential rejected"
            );
            Attempt::Rejected(resp)
        }
        Rejection::Timestamp | Rejection::Nonce => Attempt::Resign(verdict, resp),
        _ => Attempt::Accepted(resp),
    }
}
