//! The request path: pick the credential (one atomic load), attach it, send, classify; hand
//! rejections to the recover path; follow redirects hop by hop.

use std::time::{Instant, SystemTime};

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

/// An attempt's outcome: accepted, rejected as an authentication failure, or rejected for its
/// timestamp or nonce (to be signed again).
pub(crate) enum Attempt {
    Accepted(Response),
    Rejected(Response),
    Resign(Rejection, Response),
}

impl Shared {
    pub(crate) async fn execute(&self, request: Request) -> Result<Response> {
        self.counters.requests.inc();
        let resp = self.follow(request).await?;
        Ok(self.auth.scrub(resp))
    }

    async fn follow(&self, mut request: Request) -> Result<Response> {
        // Scope of later hops when no origins are configured: the caller's own request.
        let mut first: Option<Origin> = None;
        let mut hops = 0;
        loop {
            let (resp, replay) = self.send_scoped(request, first.as_ref()).await?;
            let Some(prev) = replay.filter(|_| resp.status().is_redirection()) else {
                return Ok(resp);
            };
            if self.max_redirects == 0 {
                return Ok(resp);
            }
            if first.is_none() {
                first = Some(prev.url().origin());
            }
            let Some(next) = next_hop(&resp, prev) else {
                return Ok(resp);
            };
            hops += 1;
            if hops > self.max_redirects {
                return Err(Error::new(
                    Kind::Redirect,
                    format!(
                        "more than {} redirects, last to {}",
                        self.max_redirects,
                        display_url(next.url())
                    ),
                ));
            }
            tracing::debug!(to = %display_url(next.url()), "following redirect");
            request = next;
        }
    }

    /// Sends one hop. Returns the response and, when the body can be replayed, the request
    /// without credential (for a retry or a redirect to build on).
    async fn send_scoped(
        &self,
        mut request: Request,
        first: Option<&Origin>,
    ) -> Result<(Response, Option<Request>)> {
        // The one copy the request path makes: reqwest consumes the request it sends, and a
        // retry needs it again. Bodies are reference-counted bytes; a stream yields `None`.
        let replay = request.try_clone();
        if !self.scope.admits(request.url(), first) {
            let resp = self.http.execute(request).await.map_err(Error::request)?;
            return Ok((resp, replay));
        }
        self.scope.check_transport(request.url())?;
        self.clock_ready(request.url()).await;
        let mut resigned = false;
        loop {
            let sent = Instant::now();
            let (sent_with, probing) = self.attach(&mut request)?;
            let resp = match self.send(request).await? {
                Attempt::Accepted(resp) => {
                    if probing {
                        self.store.accepted(sent_with);
                    }
                    return Ok((resp, replay));
                }
                Attempt::Resign(kind, resp) => {
                    // A timestamp or nonce rejection: the order was not placed. Sign again
                    // (after re-learning the clock) and retry, once.
                    match replay.as_ref().and_then(Request::try_clone) {
                        Some(again) if !resigned => {
                            self.counters.resigns.inc();
                            if kind == Rejection::Timestamp {
                                self.relearn_clock(&resp).await;
                            }
                            tracing::debug!(
                                ?kind,
                                "signing again after a rejected timestamp or nonce"
                            );
                            resigned = true;
                            request = again;
                            continue;
                        }
                        _ => return Ok((resp, replay)),
                    }
                }
                Attempt::Rejected(resp) => resp,
            };
            let Some(template) = replay else {
                tracing::debug!(
                    "authentication failed on a streamed body; it cannot be replayed, not retrying"
                );
                return Ok((resp, None));
            };
            let failed = Failed {
                sent,
                at: Instant::now(),
            };
            // Boxed: the recover path is rare and its state is large; inline, it would bloat
            // every request's future.
            let resp = Box::pin(self.recover(&template, sent_with, failed, resp)).await?;
            return Ok((resp, Some(template)));
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
        let mut origin = resp.url().clone();
        origin.set_path("/");
        origin.set_query(None);
        if !self.learn_clock(&origin, true).await {
            if let Some(date) = resp.headers().get(DATE) {
                let now = SystemTime::now();
                self.clock.record_date_header(date, now, now);
            }
        }
    }

    /// Sends one attempt and classifies the answer (the one place that decides).
    pub(crate) async fn send(&self, request: Request) -> Result<Attempt> {
        let signing = self.classifier.signer.is_some();
        let sent = signing.then(SystemTime::now);
        let resp = self.http.execute(request).await.map_err(Error::request)?;
        if let (Some(sent), Some(date)) = (sent, resp.headers().get(DATE)) {
            self.clock.record_date_header(date, sent, SystemTime::now());
        }
        let (verdict, resp) = if self.classifier.reads_bodies() {
            self.classifier.classify(resp).await
        } else {
            (self.classifier.by_head(&resp), resp)
        };
        Ok(match verdict {
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
        })
    }

    pub(crate) async fn retry(&self, template: &Request, cred: &Credential) -> Result<Attempt> {
        let mut request = template
            .try_clone()
            .ok_or_else(|| Error::new(Kind::Request, "request body cannot be replayed"))?;
        self.auth.apply(&mut request, cred, &self.sign_context())?;
        self.counters.retries.inc();
        tracing::debug!(version = %cred.version(), "retrying with another credential");
        self.send(request).await
    }
}
