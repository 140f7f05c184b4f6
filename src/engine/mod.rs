//! The engine: the rotation state a client owns (store, refresher, source, time, health,
//! metrics; [`Engine`], in `state.rs`) and the attempt pipeline every request goes through.
//! [`Client`](crate::Client), [`Middleware`](crate::Middleware), the tower layer and the
//! Python bindings are skins over it: they build requests and hand them to [`execute`].
//!
//! The walk of a request reads in one direction, a file per step:
//! skin → [`execute`] (`attempt.rs`: the caller's request and the redirects it leads to, hop
//! by hop, in one future; `route.rs` picks the transport, `redirect.rs` decides whether there
//! is another hop) → `attach.rs` → `classify.rs` (send, then classify) →
//! `recover.rs` (what to retry with: `refresh.rs` for a new load, `load.rs` to read the
//! source) → `retry.rs`. With a client certificate, `recover_identity.rs` runs first. Off the
//! request path: `lifecycle.rs` (the first load, the watch, forks), `driver.rs` (the watch
//! itself), `renewal.rs` (the mandatory window of a short-lived credential), `clock_sync.rs`
//! (an exchange signer's server time).
//!
//! Each step is a set of functions over `&Engine`, and no step imports this file: the
//! engine's fields are visible to this module's files only, and the types with state of their
//! own keep their `impl`s in the file that defines them (`state.rs`, `signing.rs`,
//! `watch.rs`).

mod attach;
mod attempt;
mod classify;
mod clock_sync;
mod driver;
mod lifecycle;
mod load;
mod recover;
mod recover_identity;
mod redirect;
mod refresh;
mod renewal;
mod replay;
mod retry;
mod route;
mod signing;
mod state;
mod watch;

use std::sync::Arc;

use crate::error::Result;
use crate::health::{Health, HealthState};

pub(crate) use attempt::execute;
pub(crate) use replay::Built;
pub(crate) use route::{OWN, Route};
pub(crate) use state::{Engine, Parts};

/// Loads the first credential and starts the watch, once (see `lifecycle.rs`).
pub(crate) async fn ready(engine: &Arc<Engine>) -> Result<()> {
    lifecycle::start(engine).await
}

/// Re-loads the source now, serialized with the refresh path; returns the version in use
/// afterwards. A client not started yet starts instead.
pub(crate) async fn refresh(engine: &Arc<Engine>) -> Result<String> {
    if !lifecycle::is_ready_here(engine) {
        let started = lifecycle::is_started(engine);
        lifecycle::start(engine).await?;
        if !started {
            return Ok(engine.credential_version());
        }
    }
    refresh::refresh_now(engine).await?;
    Ok(engine.credential_version())
}

/// Fresh, stale but serving, or failing (no I/O).
pub(crate) fn health(engine: &Engine) -> Health {
    let loads = engine.health.snapshot();
    let loaded = lifecycle::is_started(engine);
    let current = engine.store.current();
    let usable = loaded && current.validate().is_ok() && !engine.store.active_rejected();
    let state = match (usable, loads.failing_since) {
        (false, _) => HealthState::Failing,
        (true, Some(_)) => HealthState::Stale,
        (true, None) => HealthState::Fresh,
    };
    Health {
        state,
        credential_version: loaded.then(|| current.version().to_owned()),
        last_success: loads.last_success,
        failing_since: loads.failing_since,
        last_error: loads.last_error,
    }
}
