//! The recover path after an authentication failure: what to retry with, and whether to wait.

use std::sync::Arc;

use reqwest::{Request, Response};

use super::classify::Attempt;
use super::refresh::{self, Failed};
use super::retry;
use super::state::Engine;
use crate::credential::Credential;
use crate::error::Result;
use crate::transport::Transport;

/// How many credentials a rotation wait may deliver to one request (each tried once, all
/// inside the first wait's deadline).
const AWAITED_ATTEMPTS: usize = 2;

/// A retry's outcome, already reported to the store.
enum Tried {
    Accepted(Response),
    Rejected(Response),
}

/// After `failed` was rejected:
/// 1. the credential requests use now if it is another one (a watcher delivered it, a hold
///    started, a rejected previous was retired), else a single-flight refresh;
/// 2. the previous credential inside its overlap window, tried by one request at a time
///    until the server has accepted it. If the server refuses it too, it has moved on
///    since it refused the newest — to the newest, most often (a key refused while the
///    server was still propagating it, then the old one revoked): the newest is tried once
///    more;
/// 3. if nothing was accepted, a bounded wait for the source to deliver a credential other
///    than the newest one refused — the source may lag behind the server, or what it gave
///    may have been read half-way (a key file written in place) — shared by every request
///    refused with it, and granted once per rejection episode. If what it delivers is
///    refused too, one more credential may follow inside the same deadline.
///
/// Every answer is reported to the store, so what it knows about each credential is
/// re-learned. Otherwise the server's last response stands.
pub(super) async fn recover<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: &Request,
    failed: u64,
    when: Failed,
    resp: Response,
) -> Result<Response> {
    engine.store.rejected(failed, when.at);
    let mut episode = Episode {
        tried: vec![failed],
        refused: failed,
        last: resp,
    };

    if let Some(cred) = other_than(engine, failed, when).await {
        match try_with(engine, transport, template, &cred).await? {
            Tried::Accepted(resp) => return Ok(resp),
            Tried::Rejected(resp) => episode.refused_with(&cred, resp),
        }
    }

    if let Some((prev, _testing)) = fallback(engine, &episode.tried).await {
        engine.counters.fallbacks.inc();
        engine.metrics.fallback();
        // `_testing` (held for an untried previous) keeps other requests from sending it
        // until this attempt has decided.
        match try_with(engine, transport, template, &prev).await? {
            Tried::Accepted(resp) => {
                engine.store.hold_on_previous(prev.fingerprint());
                return Ok(resp);
            }
            Tried::Rejected(resp) => {
                // Revoked (the store retired it): the server moved on after it refused
                // the newest, which may be accepted now.
                episode.tried.push(prev.fingerprint());
                episode.last = resp;
                let newest = engine.store.current();
                if newest.fingerprint() == episode.refused {
                    match try_with(engine, transport, template, &newest).await? {
                        Tried::Accepted(resp) => return Ok(resp),
                        Tried::Rejected(resp) => episode.last = resp,
                    }
                }
            }
        }
    }

    // What the wait delivers may itself be refused (read half-way while a writer was at
    // work, the rest arriving a moment later): the source gets one more chance, inside
    // the same deadline.
    let mut cap = None;
    for _ in 0..AWAITED_ATTEMPTS {
        let Some((cred, deadline)) =
            refresh::await_rotation(engine, episode.refused, when, cap).await
        else {
            break;
        };
        if episode.tried.contains(&cred.fingerprint()) {
            break;
        }
        match try_with(engine, transport, template, &cred).await? {
            Tried::Accepted(resp) => return Ok(resp),
            Tried::Rejected(resp) => episode.refused_with(&cred, resp),
        }
        cap = Some(deadline);
    }
    Ok(episode.last)
}

/// What one request's recovery has learned so far.
struct Episode {
    /// Every credential sent and refused: none is tried twice.
    tried: Vec<u64>,
    /// The newest credential refused: what a rotation wait must move away from.
    refused: u64,
    /// The server's last answer, the caller's if nothing is accepted.
    last: Response,
}

impl Episode {
    /// A credential newer than those refused before was refused too.
    fn refused_with(&mut self, cred: &Credential, resp: Response) {
        self.tried.push(cred.fingerprint());
        self.refused = cred.fingerprint();
        self.last = resp;
    }
}

/// Retries with `cred` and reports the answer to the store.
async fn try_with<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: &Request,
    cred: &Credential,
) -> Result<Tried> {
    let sent = engine.time.now();
    Ok(
        match retry::retry(engine, transport, template, cred).await? {
            Attempt::Accepted(resp) | Attempt::Resign(_, resp) => {
                engine.store.accepted(cred.fingerprint(), sent);
                Tried::Accepted(resp)
            }
            Attempt::Rejected(resp) => {
                engine.store.rejected(cred.fingerprint(), engine.time.now());
                Tried::Rejected(resp)
            }
        },
    )
}

async fn other_than(engine: &Engine, failed: u64, when: Failed) -> Option<Arc<Credential>> {
    let current = engine.store.current();
    if current.fingerprint() != failed {
        return Some(current);
    }
    let refreshed = refresh::refresh_shared(engine, when).await;
    (refreshed.fingerprint() != failed).then_some(refreshed)
}

/// The previous credential, if it may be tried. One that the server has not accepted since
/// the newest was rejected is tried by one request at a time: if the server rejects it,
/// the others never send it: the guard returned with it is held for the attempt.
async fn fallback<'a>(
    engine: &'a Engine,
    tried: &[u64],
) -> Option<(Arc<Credential>, Option<tokio::sync::MutexGuard<'a, ()>>)> {
    let (prev, verified) = engine
        .store
        .previous()
        .filter(|(p, _)| !tried.contains(&p.fingerprint()))?;
    if verified {
        return Some((prev, None));
    }
    let gate = engine.fallback_gate.lock().await;
    // Decided while this request queued: accepted (go on, concurrently), retired (skip),
    // or still untried (this request tries it, holding the gate).
    let (again, verified) = engine
        .store
        .previous()
        .filter(|(p, _)| p.fingerprint() == prev.fingerprint())?;
    Some((again, (!verified).then_some(gate)))
}
