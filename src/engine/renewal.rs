//! The mandatory refresh window of a short-lived credential (an OAuth2 access token): the one
//! place the request path waits for a renewal, and the clear error once the credential has
//! expired and no new one can be had. The advisory window is the driver's (it renews in the
//! background); see [`RefreshWindows`](crate::RefreshWindows).

use std::time::Duration;

use super::load;
use super::state::Engine;
use crate::error::{Error, Result};

/// After a failed renewal, callers in the mandatory window reuse its outcome for this long
/// instead of loading the source again: a flood of requests while the source is down costs at
/// most one load per spacing (sources add their own, such as OAuth2's `retry_spacing`).
const RENEWAL_SPACING: Duration = Duration::from_millis(100);

/// Whether the credential in use is inside its mandatory window: one relaxed flag read for
/// credentials without windows (every one but short-lived tokens); the credential and the
/// clock are read only for those that have them.
#[inline]
pub(super) fn must_renew_first(engine: &Engine) -> bool {
    engine.store.windowed()
        && engine
            .store
            .load()
            .refresh_windows()
            .is_some_and(|w| engine.time.system_time() >= w.mandatory)
}

/// Renews before sending, one renewal at a time: callers queued behind a renewal find the
/// new credential and go on. A failed renewal leaves the current credential in use while
/// it is still valid; once it has expired, the request fails here with the cause instead
/// of going out with a credential the server will refuse.
pub(super) async fn renew_before_send(engine: &Engine) -> Result<()> {
    let mut last_failure = engine.renewal.last_failure.lock().await;
    if !must_renew_first(engine) {
        return Ok(());
    }
    let now = engine.time.now();
    let failure = match &*last_failure {
        // Reused, not re-stamped: the spacing runs from the load that failed.
        Some((at, why)) if now.saturating_duration_since(*at) < RENEWAL_SPACING => {
            Some(why.clone())
        }
        _ => {
            let failure = match load::load_valid(engine, None).await {
                Ok(cred) => load::accept(engine, Ok(cred))
                    .err()
                    .map(|err| cause(engine, &err)),
                // Not `accept`ed: one warning per failed request would flood the log while
                // the source is down; the background renewal reports the failure, and an
                // expired credential's failure is counted below.
                Err(err) => Some(cause(engine, &err)),
            };
            *last_failure = failure.clone().map(|why| (engine.time.now(), why));
            failure
        }
    };
    drop(last_failure);
    let expired = engine
        .store
        .current()
        .expires_at()
        .is_some_and(|at| engine.time.system_time() >= at);
    match (failure, expired) {
        (_, false) => Ok(()),
        (failure, true) => {
            let why = match failure {
                Some(cause) => {
                    let err = Error::source(
                        &engine.source_name,
                        format!("the credential has expired and renewing it failed: {cause}"),
                    );
                    load::load_failed(engine, &err);
                    return Err(err);
                }
                None => "the credential has expired and the source returned no newer one",
            };
            Err(Error::source(&engine.source_name, why))
        }
    }
}

/// A source error's message without the `credential source NAME: ` it starts with.
fn cause(engine: &Engine, err: &Error) -> String {
    let shown = err.to_string();
    let prefix = format!("credential source {}: ", engine.source_name);
    shown.strip_prefix(&prefix).unwrap_or(&shown).to_owned()
}
