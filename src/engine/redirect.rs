//! Redirects, followed hop by hop by the engine (reqwest's own following is off), each hop
//! deciding again whether the credential goes along ([`crate::redirect`] decides the next hop).

use reqwest::{Request, Response};
use url::Origin;

use super::Engine;
use super::attempt;
use crate::error::{Error, Kind, Result};
use crate::redirect::next_hop;
use crate::scope::display_url;
use crate::transport::Transport;

/// After the caller's request was answered with a redirect (`resp`; `prev` is that request,
/// replayable): follows hops until one is not a redirect, at most `max_redirects`.
pub(super) async fn follow<T: Transport>(
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
        let (answer, replay) = Box::pin(attempt::send_scoped(
            engine,
            transport,
            next,
            Some(&first),
            0,
        ))
        .await?;
        let Some(again) = replay.filter(|_| answer.status().is_redirection()) else {
            return Ok(with_history(engine.auth.scrub(answer), history));
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
