//! Attach: the credential requests use now (one atomic load), or during a propagation hold
//! the newest one for the request that probes it, applied by the client's [`Auth`].
//!
//! [`Auth`]: crate::Auth

use reqwest::Request;

use super::state::Engine;
use crate::credential::Credential;
use crate::error::Result;

/// Attaches the credential requests use now. Returns its fingerprint and whether this
/// request is the probe of a propagation hold.
pub(super) fn attach(engine: &Engine, request: &mut Request) -> Result<(u64, bool)> {
    // Borrowed, not cloned: one atomic load, released before any await. Only during a
    // propagation hold may this request be the one probing the newest key.
    let active = engine.store.load();
    let probe = if engine.store.holding() {
        engine.store.probe()
    } else {
        None
    };
    let cred: &Credential = probe.as_deref().unwrap_or(&active);
    engine
        .auth
        .apply(request, cred, &engine.signing.context())?;
    engine.metrics.request(cred);
    if probe.is_some() {
        engine.counters.probes.inc();
    }
    Ok((cred.fingerprint(), probe.is_some()))
}
