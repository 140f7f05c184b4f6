//! The attempt loop: attach the credential, send and classify; sign again after a timestamp or
//! nonce rejection; hand a credential rejection to the recover path; follow a redirect as the
//! next hop. One future per caller's request, from its first poll to its answer.

use std::borrow::Borrow;
use std::sync::Arc;

use reqwest::{Request, Response};
use tracing::Instrument;

use super::classify::{self, Attempt};
use super::redirect::{After, Redirects};
use super::refresh::Failed;
use super::replay::{Built, Replay};
use super::route::Route;
use super::state::Engine;
use super::{attach, clock_sync, lifecycle, recover, recover_identity, renewal};
use crate::error::{Error, Result};
use crate::scope::display_url;
use crate::sign::Rejection;
use crate::transport::Transport;

/// Sends the caller's request (`Err`: it could not be built, returned at the first poll), and
/// the redirects it leads to (at most `max_redirects`; `None`: the client's), through the
/// transport `route` picks, in the request's span; answers with the response, scrubbed. A
/// lazily built client (or one in a forked child) starts first. `engine`: an `Arc` for a
/// `'static` future, or a borrow of one. The one entry of every skin.
///
/// The state of every request in flight is what the caches hold under concurrency, and each
/// future nested in another is built and then moved into its parent's state, a copy of its
/// whole size: so the steady path is this one future (the transport's inside it), it owns the
/// engine handle (`Arc` for a `'static` future, or a borrow), and what is rare (starting,
/// recovery, re-signing, reading a body to classify it, learning the clock) is boxed.
///
/// A plain `fn` around an `async move` block: the block uses what it captured in place (an
/// `async fn` keeps its arguments and a second copy of them in its state).
#[allow(clippy::manual_async_fn)] // deliberate, see above
pub(crate) fn execute<E, T>(
    engine: E,
    route: Route<'_, T>,
    request: Result<Request>,
    max_redirects: Option<usize>,
    built: Built,
) -> impl Future<Output = Result<Response>> + Send
where
    E: Borrow<Arc<Engine>> + Send + Sync,
    T: Transport,
{
    let span = match &request {
        Ok(request) => request_span(request),
        Err(_) => tracing::Span::none(),
    };
    async move {
        let handle: &Arc<Engine> = engine.borrow();
        let engine: &Engine = handle;
        let picked = route.pick(engine);
        let transport = &picked;
        let mut request = request?;
        if !lifecycle::is_ready_here(engine) {
            // A lazily built client loads its first credential on first use (boxed: once).
            Box::pin(lifecycle::start(handle)).await?;
        }
        // Counted here, when the request's future is first polled (and the client started).
        engine.counters.requests.inc();
        let mut redirects = Redirects::new(engine, max_redirects);
        let mut built = built;
        loop {
            // The one copy the request path makes: reqwest consumes the request it sends, and a
            // retry needs it again (see `replay.rs`). Bodies are reference-counted bytes; a stream
            // yields `None`.
            let replay = Replay::of(&request, built);
            let (resp, replay) = 'sent: {
                if !engine.scope.admits(request.url(), redirects.first()) {
                    let resp = transport.send(request).await?;
                    break 'sent (resp, replay);
                }
                engine.scope.check_transport(request.url())?;
                if renewal::must_renew_first(engine) {
                    // A short-lived credential in its mandatory window (boxed: rare).
                    Box::pin(renewal::renew_before_send(engine)).await?;
                }
                if clock_sync::clock_pending(engine) {
                    // Once per signing client (its first request): boxed, off every request's future.
                    Box::pin(clock_sync::clock_ready(engine, transport, request.url())).await;
                }
                let mut resigned = false;
                loop {
                    let sent = engine.time.now();
                    let (sent_with, probing) = attach::attach(engine, &mut request)?;
                    // `send`, inlined (one level less on every request's future).
                    let signed_at = classify::signed_at(engine);
                    let resp = match transport.send(request).await {
                        Ok(resp) => resp,
                        // mTLS: a refused client certificate has its own recover path (boxed: rare).
                        Err(err) if engine.tls.is_some() => {
                            let (resp, template) = Box::pin(recover_identity::recover_refused(
                                engine,
                                transport,
                                replay.map(Replay::into_request),
                                err,
                            ))
                            .await?;
                            break 'sent (resp, template.map(Replay::Whole));
                        }
                        Err(err) => return Err(err),
                    };
                    let attempt = match classify::judge_head(engine, signed_at, resp) {
                        Ok(attempt) => attempt,
                        Err(resp) => Box::pin(classify::judge_body(engine, resp)).await,
                    };
                    let resp = match attempt {
                        Attempt::Accepted(resp) => {
                            // Only when the store holds something this acceptance clears
                            // (a rejection, a rotation wait): one relaxed load.
                            if probing || engine.store.attends(sent_with) {
                                engine.store.accepted(sent_with, sent);
                            }
                            break 'sent (resp, replay);
                        }
                        Attempt::Resign(kind, resp) => {
                            // A timestamp or nonce rejection: the order was not placed. Sign again
                            // (after re-learning the clock) and retry, once. A replay always clones
                            // again (its body, if any, is bytes): checked here, cloned after the wait.
                            if resigned || replay.is_none() {
                                break 'sent (resp, replay);
                            }
                            engine.counters.resigns.inc();
                            if kind == Rejection::Timestamp {
                                Box::pin(clock_sync::relearn_clock(engine, transport, &resp)).await;
                            }
                            let Some(again) = replay.as_ref().and_then(Replay::request) else {
                                break 'sent (resp, replay);
                            };
                            tracing::debug!(
                                ?kind,
                                "signing again after a rejected timestamp or nonce"
                            );
                            resigned = true;
                            request = again;
                            continue;
                        }
                        Attempt::Rejected(resp) => {
                            if let Some(cred) = engine.store.find(sent_with) {
                                engine.metrics.rejected(&cred);
                            }
                            resp
                        }
                    };
                    let Some(template) = replay.map(Replay::into_request) else {
                        tracing::debug!(
                            "authentication failed on a streamed body; it cannot be replayed, not retrying"
                        );
                        break 'sent (resp, None);
                    };
                    let failed = Failed {
                        sent,
                        at: engine.time.now(),
                    };
                    // Boxed with the template it owns: the recover path is rare and its state is
                    // large; inline, it would bloat every request's future.
                    break 'sent Box::pin(async move {
                        let resp = match engine.tls {
                            // mTLS: the identity is refreshed first (`recover_identity.rs`).
                            Some(_) => {
                                recover_identity::recover_rejected_identity(
                                    engine, transport, &template, sent_with, failed, resp,
                                )
                                .await?
                            }
                            None => {
                                recover::recover(
                                    engine, transport, &template, sent_with, failed, resp,
                                )
                                .await?
                            }
                        };
                        Ok::<_, Error>((resp, Some(Replay::Whole(template))))
                    })
                    .await?;
                }
            };
            match redirects.after(engine, resp, replay)? {
                After::Done(resp) => return Ok(resp),
                After::Follow(next) => (request, built) = (next, Built::Elsewhere),
            }
        }
    }
    .instrument(span)
}

/// The span every request runs in (its fields are only evaluated when the span is enabled).
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "keyswap.request",
        method = %request.method(),
        url = %display_url(request.url()),
    )
}
