//! The request path and the recover path after an authentication failure, plus redirects
//! (followed here, not by reqwest, so each hop decides again whether the credential goes along).

use std::sync::Arc;

use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING,
};
use reqwest::{Method, Request, Response, StatusCode};
use url::Origin;

use crate::client::Shared;
use crate::credential::Credential;
use crate::error::{Error, Kind, Result};
use crate::scope::display_url;

/// An attempt's outcome: accepted, or rejected as an authentication failure.
enum Attempt {
    Accepted(Response),
    Rejected(Response),
}

impl Shared {
    pub(crate) async fn execute(&self, request: Request) -> Result<Response> {
        self.counters.requests.inc();
        // Scope of later hops when no origins are configured: the caller's own request.
        let mut first: Option<Origin> = None;
        let mut request = request;
        let mut hops = 0;
        loop {
            let (resp, replay) = self.send_scoped(request, first.as_ref()).await?;
            let Some(prev) = replay.filter(|_| resp.status().is_redirection()) else {
                return Ok(resp);
            };
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
        let sent_with = {
            // Borrowed, not cloned: one atomic load, released before the await below.
            let cred = self.store.load();
            self.auth.apply(&mut request, &cred)?;
            cred.fingerprint()
        };
        let resp = match self.send(request).await? {
            Attempt::Accepted(resp) => return Ok((resp, replay)),
            Attempt::Rejected(resp) => resp,
        };
        let Some(template) = replay else {
            tracing::debug!(
                "authentication failed on a streamed body; it cannot be replayed, not retrying"
            );
            return Ok((resp, None));
        };
        // Boxed: the recover path is rare and its state is large; inline, it would bloat
        // every request's future.
        let resp = Box::pin(self.recover(&template, sent_with, resp)).await?;
        Ok((resp, Some(template)))
    }

    async fn send(&self, request: Request) -> Result<Attempt> {
        let resp = self.http.execute(request).await.map_err(Error::request)?;
        if self.auth_failure.matches(&resp) {
            self.counters.auth_failures.inc();
            tracing::debug!(
                status = resp.status().as_u16(),
                url = %display_url(resp.url()),
                "credential rejected"
            );
            Ok(Attempt::Rejected(resp))
        } else {
            Ok(Attempt::Accepted(resp))
        }
    }

    async fn retry(&self, template: &Request, cred: &Credential) -> Result<Attempt> {
        let mut request = template
            .try_clone()
            .ok_or_else(|| Error::new(Kind::Request, "request body cannot be replayed"))?;
        self.auth.apply(&mut request, cred)?;
        self.counters.retries.inc();
        tracing::debug!(version = %cred.version(), "retrying with another credential");
        self.send(request).await
    }

    /// After `failed` was rejected: (1) a credential that is already newer, else (2) a
    /// single-flight refresh; (3) the previous credential inside its overlap window; (4) if no
    /// newer credential exists, a bounded wait for the source to rotate. At most one retry with
    /// a newer credential and one with the previous; otherwise the server's response stands.
    async fn recover(&self, template: &Request, failed: u64, resp: Response) -> Result<Response> {
        let mut last = resp;
        let mut tried = vec![failed];

        let fresh = self.newer_than(failed).await;
        if let Some(cred) = &fresh {
            match self.retry(template, cred).await? {
                Attempt::Accepted(resp) => return Ok(resp),
                Attempt::Rejected(resp) => {
                    tried.push(cred.fingerprint());
                    last = resp;
                }
            }
        }

        if let Some(prev) = self
            .store
            .previous()
            .filter(|p| !tried.contains(&p.fingerprint()))
        {
            self.counters.fallbacks.inc();
            match self.retry(template, &prev).await? {
                Attempt::Accepted(resp) => return Ok(resp),
                Attempt::Rejected(resp) => {
                    // Revoked: spare every later request the same wasted attempt.
                    self.store.retire_previous(prev.fingerprint());
                    tried.push(prev.fingerprint());
                    last = resp;
                }
            }
        }

        if fresh.is_none() {
            if let Some(cred) = self.await_rotation(failed).await {
                if !tried.contains(&cred.fingerprint()) {
                    let (Attempt::Accepted(resp) | Attempt::Rejected(resp)) =
                        self.retry(template, &cred).await?;
                    return Ok(resp);
                }
            }
        }
        Ok(last)
    }

    async fn newer_than(&self, failed: u64) -> Option<Arc<Credential>> {
        let current = self.store.current();
        if current.fingerprint() != failed {
            return Some(current);
        }
        let refreshed = self.refresh_shared().await;
        (refreshed.fingerprint() != failed).then_some(refreshed)
    }
}

/// The request a redirect response asks for, built from the previous hop's request (which
/// carries no credential). `None` when the response is not a followable redirect.
fn next_hop(resp: &Response, mut request: Request) -> Option<Request> {
    let to_get = match resp.status() {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => request.method() == Method::POST,
        StatusCode::SEE_OTHER => request.method() != Method::HEAD,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => false,
        _ => return None,
    };
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    let next_url = request.url().join(location).ok()?;
    if !matches!(next_url.scheme(), "http" | "https") {
        return None;
    }
    if next_url.origin() != request.url().origin() {
        // What reqwest strips on a cross-origin redirect, for headers the caller set.
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            request.headers_mut().remove(name);
        }
    }
    if to_get {
        *request.method_mut() = Method::GET;
        *request.body_mut() = None;
        for name in [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING] {
            request.headers_mut().remove(name);
        }
    }
    *request.url_mut() = next_url;
    Some(request)
}
