//! Redirects, followed hop by hop by the engine (reqwest's own following is off), each hop
//! deciding again whether the credential goes along ([`crate::redirect`] decides the next hop).

use std::pin::Pin;
use std::task::{Context, Poll};

use reqwest::{Request, Response};
use url::Origin;

use super::attempt::{self, Answered};
use super::replay::Built;
use super::state::Engine;
use crate::error::{Error, Kind, Result};
use crate::redirect::next_hop;
use crate::scope::display_url;
use crate::transport::Transport;

pin_project_lite::pin_project! {
    /// The caller's request: its first hop, then — rarely, boxed — the redirects it leads to.
    /// Answers with the response alone, scrubbed. (`FutureExt::map` would move the whole
    /// finished future out of its state: a copy per request.)
    struct Answer<'a, F, T> {
        #[pin]
        hop: F,
        following: Option<Pin<Box<dyn Future<Output = Result<Response>> + Send + 'a>>>,
        engine: &'a Engine,
        transport: &'a T,
        max_redirects: usize,
    }
}

impl<'a, F, T> Future for Answer<'a, F, T>
where
    F: Future<Output = Result<Answered>>,
    T: Transport,
{
    type Output = Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(following) = this.following {
            return following.as_mut().poll(cx);
        }
        let answered = match this.hop.poll(cx) {
            Poll::Ready(Ok(answered)) => answered,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        };
        let engine: &'a Engine = this.engine;
        match answered {
            Answered::Redirect(resp, prev) if *this.max_redirects != 0 => {
                let chain = follow(engine, *this.transport, resp, *prev, *this.max_redirects);
                this.following.insert(Box::pin(chain)).as_mut().poll(cx)
            }
            Answered::Redirect(resp, _) | Answered::Final(resp) => {
                Poll::Ready(Ok(engine.auth.scrub(resp)))
            }
        }
    }
}

/// Sends the caller's request: its first hop (see `attempt.rs`), then the redirects it leads
/// to, at most `max_redirects` (`None`: the client's), and scrubs the answer.
pub(super) fn execute<'a, T: Transport>(
    engine: &'a Engine,
    transport: &'a T,
    request: Request,
    max_redirects: Option<usize>,
    built: Built,
) -> impl Future<Output = Result<Response>> + Send + 'a {
    Answer {
        hop: attempt::send_scoped(engine, transport, request, None, built),
        following: None,
        engine,
        transport,
        max_redirects: max_redirects.unwrap_or(engine.max_redirects),
    }
}

/// After the caller's request was answered with a redirect (`resp`; `prev` is that request,
/// replayable): follows hops until one is not a redirect, at most `max_redirects`.
async fn follow<T: Transport>(
    engine: &Engine,
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
        let resp_scrubbed = engine.auth.scrub(resp);
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
        let answered = Box::pin(attempt::send_scoped(
            engine,
            transport,
            next,
            Some(&first),
            Built::Elsewhere,
        ))
        .await?;
        let (answer, again) = match answered {
            Answered::Redirect(answer, again) => (answer, *again),
            Answered::Final(answer) => {
                return Ok(with_history(engine.auth.scrub(answer), history));
            }
        };
        (resp, prev) = (answer, again);
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
