//! The refresh path: one load in flight per client however many requests failed at once
//! ([`SingleFlight`]), and the bounded, shared wait for a rotation the source has not delivered
//! yet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::load;
use super::state::Engine;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::single_flight::Flight;
use crate::store::Offered;

/// While waiting for a rotation, how often the source is re-loaded (single-flight). Sources
/// with change events usually deliver sooner.
const AWAIT_POLL_STEP: Duration = Duration::from_millis(100);
/// A refresh that starts within [`BURST_WINDOW`] of the previous one is part of a burst of
/// rejections (a storm of requests in flight when a key was revoked): it waits this long first,
/// so the rejections still arriving share it instead of each costing a load.
const BURST_GATHER: Duration = Duration::from_millis(20);
const BURST_WINDOW: Duration = Duration::from_millis(200);

/// When a request that met an authentication failure was sent and when its answer came: a
/// refresh may only answer it with a load that began after the failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failed {
    pub(crate) sent: Instant,
    pub(crate) at: Instant,
}

impl Failed {
    /// For the periodic re-loads of a rotation wait: any load begun in the last `window`
    /// will do, so every waiter shares one load per window.
    fn within(self, window: Duration, now: Instant) -> Self {
        Failed {
            sent: self.sent,
            at: now.checked_sub(window).unwrap_or(now).max(self.at),
        }
    }
}

/// Forces a load now (the public `Client::refresh`), serialized with the refresh path.
pub(super) async fn refresh_now(engine: &Engine) -> Result<Offered> {
    let mut outcome = None;
    let now = engine.time.now();
    engine
        .refresher
        .flight
        .run(
            Some(now),
            |_| false,
            |_| async {
                outcome = Some(refresh_once(engine, Some(now)).await);
            },
        )
        .await;
    outcome.unwrap_or_else(|| Err(Error::source(&engine.source_name, "refresh did not run")))
}

/// One counted load of the source through the refresh path.
async fn refresh_once(engine: &Engine, since: Option<Instant>) -> Result<Offered> {
    engine.counters.refreshes.inc();
    engine.metrics.refresh();
    load::accept(engine, load::load_valid(engine, since).await)
}

/// Single-flight refresh for a request that failed: it shares a load with every request
/// that failed before that load began, never one that began before its own failure.
/// Returns the credential current afterwards.
pub(super) async fn refresh_shared(engine: &Engine, failed: Failed) -> Arc<Credential> {
    let gather = |last: Option<&Flight<()>>| match last {
        Some(f) if engine.time.now().saturating_duration_since(f.finished) < BURST_WINDOW => {
            BURST_GATHER
        }
        _ => Duration::ZERO,
    };
    engine
        .refresher
        .flight
        .run_gathered(
            Some(failed.sent),
            gather,
            |f| f.started > failed.at && f.since.is_some_and(|s| s >= failed.sent),
            |since| async move {
                // A failure is counted and logged by `accept`; callers go on with what is
                // current.
                let _ = refresh_once(engine, since).await;
            },
        )
        .await;
    engine.store.current()
}

/// Waits, bounded, for the store to hold something other than the credential with
/// fingerprint `rejected`. One wait per rejection episode ([`Store::rotation_wait`]): every
/// request that failed with it shares the same deadline, and once that has passed they
/// fail fast, until the credential is accepted again. The deadline bounds the whole wait,
/// slow source loads included. `cap`: a deadline not to wait past (a request's earlier
/// wait). Returns the credential, and the deadline the wait had.
///
/// [`Store::rotation_wait`]: crate::store::Store::rotation_wait
pub(super) async fn await_rotation(
    engine: &Engine,
    rejected: u64,
    when: Failed,
    cap: Option<Instant>,
) -> Option<(Arc<Credential>, Instant)> {
    if engine.refresher.await_rotation.is_zero() {
        return None;
    }
    let (deadline, granted) = engine
        .store
        .rotation_wait(rejected, engine.refresher.await_rotation);
    let deadline = cap.map_or(deadline, |cap| cap.min(deadline));
    if granted {
        engine.counters.rotation_waits.inc();
        tracing::info!(source = %engine.source_name, "credential rejected and not rotated yet; waiting for the source");
    }
    let waited = engine
        .time
        .timeout_at(deadline, poll_for_rotation(engine, rejected, when));
    let cred = match waited.await {
        Ok(cred) => Some(cred),
        Err(_) => {
            // The deadline may have cut a load short just as it delivered.
            let current = engine.store.current();
            (current.fingerprint() != rejected).then_some(current)
        }
    };
    cred.map(|cred| (cred, deadline))
}

async fn poll_for_rotation(engine: &Engine, rejected: u64, when: Failed) -> Arc<Credential> {
    let mut rotations = engine.store.subscribe();
    loop {
        let current = engine.store.current();
        if current.fingerprint() != rejected {
            return current;
        }
        tokio::select! {
            _ = rotations.changed() => continue,
            () = engine.time.sleep(AWAIT_POLL_STEP) => {}
        }
        let now = engine.time.now();
        let current = refresh_shared(engine, when.within(AWAIT_POLL_STEP, now)).await;
        if current.fingerprint() != rejected {
            return current;
        }
    }
}
