//! Redirects, followed hop by hop by the engine (reqwest's own following is off), each hop
//! deciding again whether the credential goes along ([`crate::redirect`] decides the next hop).
//! The hops are sent by the attempt loop (`attempt.rs`); this file decides, after each, whether
//! there is another.

use reqwest::{Request, Response};
use url::Origin;

use super::replay::Replay;
use super::state::Engine;
use crate::error::{Error, Kind, Result};
use crate::redirect::{History, Redirect, next_hop};
use crate::scope::display_url;

/// The redirects of one caller's request: how many it may follow, and those followed so far.
pub(super) struct Redirects {
    limit: usize,
    /// Scope of later hops when no origins are configured: the caller's own request
    /// (`None` until a redirect is followed: the caller's request is that hop).
    first: Option<Origin>,
    history: Vec<Redirect>,
}

/// What comes after a hop's answer.
pub(super) enum After {
    /// The caller's answer, scrubbed, with the redirects followed to reach it.
    Done(Response),
    /// The next hop (without credential: each hop attaches its own).
    Follow(Request),
}

impl Redirects {
    /// `limit`: the request's own redirect limit, `None` for the client's.
    pub(super) fn new(engine: &Engine, limit: Option<usize>) -> Self {
        Redirects {
            limit: limit.unwrap_or(engine.max_redirects),
            first: None,
            history: Vec::new(),
        }
    }

    /// The origin of the caller's request while a redirect is being followed; `None` on the
    /// caller's own request.
    pub(super) fn first(&self) -> Option<&Origin> {
        self.first.as_ref()
    }

    /// After a hop answered `resp` (`replay`: that hop's request, when it can be sent again):
    /// the answer, or the next hop. More hops than the limit fail with a redirect error.
    pub(super) fn after(
        &mut self,
        engine: &Engine,
        resp: Response,
        replay: Option<Replay>,
    ) -> Result<After> {
        let resp = engine.auth.scrub(resp);
        let prev = match replay {
            Some(replay) if self.limit != 0 && resp.status().is_redirection() => {
                replay.into_request()
            }
            _ => return Ok(After::Done(self.done(resp))),
        };
        if self.first.is_none() {
            self.first = Some(prev.url().origin());
        }
        let Some(next) = next_hop(&resp, prev) else {
            return Ok(After::Done(self.done(resp)));
        };
        self.history.push(Redirect::of(&resp));
        if self.history.len() > self.limit {
            return Err(Error::new(
                Kind::Redirect,
                format!(
                    "more than {} redirects, last to {}",
                    self.limit,
                    display_url(next.url())
                ),
            ));
        }
        tracing::debug!(to = %display_url(next.url()), "following redirect");
        Ok(After::Follow(next))
    }

    /// `resp` with the redirects followed to reach it (see [`crate::redirects`]).
    fn done(&mut self, mut resp: Response) -> Response {
        if !self.history.is_empty() {
            resp.extensions_mut()
                .insert(History(std::mem::take(&mut self.history)));
        }
        resp
    }
}
