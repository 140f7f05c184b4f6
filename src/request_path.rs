//! The request path: pick the credential (one atomic load), attach it, send, classify; hand
//! rejections to the recover path; follow redirects hop by hop.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use reqwest::header::DATE;
use reqwest::{Request, Response};
use url::Origin;

use crate::client::Shared;
use crate::credential::Credential;
use crate::error::{Error, Kind, Result};
use crate::redirect::next_hop;
use crate::refresh::Failed;
use crate::scope::display_url;
use crate::sign::{Rejection, SignContext};
use crate::transport::Transport;

pin_project_lite::pin_project! {
    /// The caller's request: its first hop's future, answering with the response alone.
    struct Answer<F> {
        #[pin]
        hop: F,
    }
}

impl<F: Future<Output = Result<(Response, Option<Request>)>>> Future for Answer<F> {
    type Output = Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .hop
            .poll(cx)
            .map(|hop| hop.map(|(resp, _)| resp))
    }
}

/// An attempt's outcome: accepted, rejected as an authentication failure, or rejected for its
/// timestamp or nonce (to be signed again).
pub(crate) enum Attempt {
    Accepted(Response),
    Rejected(Response),
    Resign(Rejection, Response),
}

impl Shared {
    /// Sends a request: counts it, sends it hop by hop (redirects), and scrubs the response.
    ///
    /// The state of every request in flight is what the caches hold under concurrency, and each
    /// level of `async fn` adds its arguments (a `Request` is 264 bytes) and its child future to
    /// it: so the steady path is [`send_scoped`](Self::send_scoped)'s future alone (built here,
    /// the request moved into it once; for the caller's own request it also counts it, follows
    /// redirects and scrubs the answer), and what is rare (redirects, recovery, re-signing,
    /// reading a body to classify it, learning the clock) is boxed. (`FutureExt::map` would
    /// move the whole finished future out of its state: a copy per request.)
    ///
    /// `max_redirects`: the request's own redirect limit, `None` for the client's.
    pub(crate) fn execute<'a, T: Transport>(
        &'a self,
        transport: &'a T,
        request: Request,
        max_redirects: Option<usize>,
    ) -> impl Future<Output = Result<Response>> + 'a {
        let max_redirects = max_redirects.unwrap_or(self.max_redirects);
        Answer {
            hop: self.send_scoped(transport, request, None, max_redirects),
        }
    }

    /// After the caller's request was answered with a redirect (`resp`; `prev` is that request,
    /// replayable): follows hops until one is not a redirect, at most `max_redirects`.
    async fn follow<T: Transport>(
        &self,
        transport: &T,
        mut resp: Response,
        mut prev: Request,
        max_redirects: usize,
    ) -> Result<Response> {
        // Scope of later hops when no origins are configured: the caller's own request.
        let first: Origin = prev.url().origin();
        let mut history = Vec::new();
        let mut hops = 0;
        loop {
            let resp_scrubbed = self.auth.scrub(resp);
            let Some(next) = next_hop(&resp_scrubbed, prev) else {
                return Ok(with_history(resp_scrubbed, history));
            };
            history.push(crate::redirect::Redirect::of(&resp_scrubbed));
            hops += 1;
            if hops > max_redirects {
                return Err(Error::new(
                    Kind::Redirect,
                    format!(
                        "more than {max_redirects} redirects, last to {}",
                        display_url(next.url())
                    ),
                ));
            }
            tracing::debug!(to = %display_url(next.url()), "following redirect");
            let (answer, replay) =
                Box::pin(self.send_scoped(transport, next, Some(&first), 0)).await?;
            let Some(again) = replay.filter(|_| answer.status().is_redirection()) else {
                return Ok(with_history(self.auth.scrub(answer), history));
            };
            (resp, prev) = (answer, again);
        }
    }

    /// Sends one hop. Returns the response and, when the body can be replayed, the request
    /// without credential (for a retry or a redirect to build on). `max_redirects` applies to
    /// the caller's own request (`first` is `None`); a redirect's hop ignores it.
    ///
    /// A plain `fn` around an `async move` block: the block uses the captured request in place
    /// (an `async fn` keeps its argument and a second copy of it in its state).
    #[allow(clippy::manual_async_fn)] // deliberate, see above
    fn send_scoped<'a, T: Transport>(
        &'a self,
        transport: &'a T,
        mut request: Request,
        first: Option<&'a Origin>,
        max_redirects: usize,
    ) -> impl Future<Output = Result<(Response, Option<Request>)>> + 'a {
        async move {
            // `first` is `None` only on the caller's own request (not on a redirect's hop):
            // counted here, when its future is first polled.
            if first.is_none() {
                self.counters.requests.inc();
            }
            // The one copy the request path makes: reqwest consumes the request it sends, and a
            // retry needs it again. Bodies are reference-counted bytes; a stream yields `None`.
            let replay = request.try_clone();
            // In a block of its own: nothing of it stays in the future's state while a redirect
            // chain is followed.
            let redirected = {
                let (resp, replay) = 'sent: {
                    if !self.scope.admits(request.url(), first) {
                        let resp = transport.send(request).await?;
                        break 'sent (resp, replay);
                    }
                    self.scope.check_transport(request.url())?;
                    if self.must_renew_first() {
                        // A short-lived credential in its mandatory window (boxed: rare).
                        Box::pin(self.renew_before_send()).await?;
                    }
                    if self.clock_pending() {
                        // Once per signing client (its first request): boxed, off every request's future.
                        Box::pin(self.clock_ready(request.url())).await;
                    }
                    let mut resigned = false;
                    loop {
                        let sent = self.time.now();
                        let (sent_with, probing) = self.attach(&mut request)?;
                        // `send`, inlined (one level less on every request's future).
                        let signed_at = self.signed_at();
                        let resp = match transport.send(request).await {
                            Ok(resp) => resp,
                            // mTLS: a refused client certificate has its own recover path (boxed: rare).
                            Err(err) if self.tls.is_some() => {
                                break 'sent Box::pin(self.recover_refused(transport, replay, err))
                                    .await?;
                            }
                            Err(err) => return Err(err),
                        };
                        let attempt = match self.judge_head(signed_at, resp) {
                            Ok(attempt) => attempt,
                            Err(resp) => Box::pin(self.judge_body(resp)).await,
                        };
                        let resp = match attempt {
                            Attempt::Accepted(resp) => {
                                // Only when the store holds something this acceptance clears
                                // (a rejection, a rotation wait): one relaxed load.
                                if probing || self.store.attends(sent_with) {
                                    self.store.accepted(sent_with, sent);
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
                                self.counters.resigns.inc();
                                if kind == Rejection::Timestamp {
                                    Box::pin(self.relearn_clock(&resp)).await;
                                }
                                let Some(again) = replay.as_ref().and_then(Request::try_clone)
                                else {
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
                                if let Some(cred) = self.store.find(sent_with) {
                                    self.metrics.rejected(&cred);
                                }
                                resp
                            }
                        };
                        let Some(template) = replay else {
                            tracing::debug!(
                                "authentication failed on a streamed body; it cannot be replayed, not retrying"
                            );
                            break 'sent (resp, None);
                        };
                        let failed = Failed {
                            sent,
                            at: self.time.now(),
                        };
                        // Boxed with the template it owns: the recover path is rare and its state is
                        // large; inline, it would bloat every request's future.
                        break 'sent Box::pin(async move {
                            let resp = match self.tls {
                                // mTLS: the identity is refreshed first (`tls/recover.rs`).
                                Some(_) => {
                                    self.recover_rejected_identity(
                                        transport, &template, sent_with, failed, resp,
                                    )
                                    .await?
                                }
                                None => {
                                    self.recover(transport, &template, sent_with, failed, resp)
                                        .await?
                                }
                            };
                            Ok::<_, Error>((resp, Some(template)))
                        })
                        .await?;
                    }
                };
                if first.is_some() {
                    // A redirect's hop: `follow` decides what comes next.
                    return Ok((resp, replay));
                }
                // The caller's own request: done, or the start of a redirect chain (boxed: rare).
                match replay.filter(|_| resp.status().is_redirection()) {
                    Some(prev) if max_redirects != 0 => {
                        Box::pin(self.follow(transport, resp, prev, max_redirects))
                    }
                    _ => return Ok((self.auth.scrub(resp), None)),
                }
            };
            Ok((redirected.await?, None))
        }
    }

    /// Attaches the credential requests use now. Returns its fingerprint and whether this
    /// request is the probe of a propagation hold.
    fn attach(&self, request: &mut Request) -> Result<(u64, bool)> {
        // Borrowed, not cloned: one atomic load, released before any await. Only during a
        // propagation hold may this request be the one probing the newest key.
        let active = self.store.load();
        let probe = if self.store.holding() {
            self.store.probe()
        } else {
            None
        };
        let cred: &Credential = probe.as_deref().unwrap_or(&active);
        self.auth.apply(request, cred, &self.sign_context())?;
        self.metrics.request(cred);
        if probe.is_some() {
            self.counters.probes.inc();
        }
        Ok((cred.fingerprint(), probe.is_some()))
    }

    pub(crate) fn sign_context(&self) -> SignContext<'_> {
        SignContext::new(&self.clock, &self.nonces)
    }

    /// After a timestamp rejection: the time endpoint of the request's origin, else the
    /// response's `Date`.
    async fn relearn_clock(&self, resp: &Response) {
        if !self.learn_clock(resp.url(), true).await {
            if let Some(date) = resp.headers().get(DATE) {
                let now = SystemTime::now();
                self.clock.record_date_header(date, now, now);
            }
        }
    }

    /// Sends one attempt and classifies the answer (the one place that decides).
    pub(crate) async fn send<T: Transport>(
        &self,
        transport: &T,
        request: Request,
    ) -> Result<Attempt> {
        let signed_at = self.signed_at();
        let resp = transport.send(request).await?;
        Ok(match self.judge_head(signed_at, resp) {
            Ok(attempt) => attempt,
            Err(resp) => Box::pin(self.judge_body(resp)).await,
        })
    }

    /// When a signing client sends an attempt: the time its `Date` sample is taken against.
    fn signed_at(&self) -> Option<SystemTime> {
        self.classifier.signer.is_some().then(SystemTime::now)
    }

    /// The answer to an attempt sent at `signed_at`: its `Date` recorded for a signer's clock,
    /// then classified from status and headers. `Err(resp)` when the body must be read to
    /// decide ([`judge_body`](Self::judge_body)).
    #[allow(clippy::result_large_err)] // the response moves through once, never boxed on the hot path
    fn judge_head(
        &self,
        signed_at: Option<SystemTime>,
        resp: Response,
    ) -> std::result::Result<Attempt, Response> {
        // Only a signer's clock wants the `Date`: no header lookup otherwise.
        if let Some(sent) = signed_at {
            if let Some(date) = resp.headers().get(DATE) {
                self.clock.record_date_header(date, sent, SystemTime::now());
            }
        }
        if self.classifier.needs_body(&resp) {
            return Err(resp);
        }
        let verdict = self.classifier.by_head(&resp);
        Ok(self.conclude(verdict, resp))
    }

    /// Classifies an answer whose body must be read. Boxed by its callers: rare, and its future
    /// is large.
    async fn judge_body(&self, resp: Response) -> Attempt {
        let (verdict, resp) = self.classifier.classify(resp).await;
        self.conclude(verdict, resp)
    }

    fn conclude(&self, verdict: Rejection, mut resp: Response) -> Attempt {
        if verdict != Rejection::None {
            // Rare: the verdict travels with the response, for the skins (`crate::verdict`).
            resp.extensions_mut()
                .insert(crate::classify::Verdict(verdict));
        }
        match verdict {
            Rejection::Credential => {
                self.counters.auth_failures.inc();
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

    pub(crate) async fn retry<T: Transport>(
        &self,
        transport: &T,
        template: &Request,
        cred: &Credential,
    ) -> Result<Attempt> {
        let mut request = template
            .try_clone()
            .ok_or_else(|| Error::new(Kind::Request, "request body cannot be replayed"))?;
        self.auth.apply(&mut request, cred, &self.sign_context())?;
        self.counters.retries.inc();
        tracing::debug!(version = %cred.version(), "retrying with another credential");
        self.metrics.request(cred);
        let attempt = self.send(transport, request).await?;
        if matches!(attempt, Attempt::Rejected(_)) {
            self.metrics.rejected(cred);
        }
        Ok(attempt)
    }
}

/// `resp` with the redirects followed to reach it (see [`crate::redirects`]).
fn with_history(mut resp: Response, history: Vec<crate::redirect::Redirect>) -> Response {
    if !history.is_empty() {
        resp.extensions_mut()
            .insert(crate::redirect::History(history));
    }
    resp
}
