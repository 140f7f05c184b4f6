//! The refresh path: load, validate, swap — one load in flight per client however many requests
//! failed at once ([`SingleFlight`]) — and the bounded, shared wait for a rotation the source has
//! not delivered yet.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures_util::FutureExt;

use crate::client::Shared;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::single_flight::{Flight, SingleFlight};
use crate::source::Source;
use crate::store::Offered;
use crate::time::Time;

/// While waiting for a rotation, how often the source is re-loaded (single-flight). Sources
/// with change events usually deliver sooner.
const AWAIT_POLL_STEP: Duration = Duration::from_millis(100);
/// A refresh that starts within [`BURST_WINDOW`] of the previous one is part of a burst of
/// rejections (a storm of requests in flight when a key was revoked): it waits this long first,
/// so the rejections still arriving share it instead of each costing a load.
const BURST_GATHER: Duration = Duration::from_millis(20);
const BURST_WINDOW: Duration = Duration::from_millis(200);

pub(crate) struct Refresher {
    flight: SingleFlight<()>,
    /// Held while one request tries a previous credential the server has not accepted yet.
    pub(crate) fallback_gate: tokio::sync::Mutex<()>,
    await_rotation: Duration,
}

impl Refresher {
    pub(crate) fn new(await_rotation: Duration, time: Time) -> Self {
        Refresher {
            flight: SingleFlight::new(time),
            fallback_gate: tokio::sync::Mutex::new(()),
            await_rotation,
        }
    }
}

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

/// Loads `source` once, bounded by `timeout` (on `time`), and validates what it produced. A
/// source that panics is caught and reported as a source error. `since` (on `time`): the load
/// must not be answered from a fetch that began earlier (see
/// [`CredentialSource::load_since`](crate::CredentialSource::load_since), which speaks the
/// process clock).
pub(crate) async fn load_valid(
    source: &Source,
    name: &str,
    timeout: Duration,
    since: Option<Instant>,
    time: &Time,
) -> Result<Credential> {
    let load = match since {
        Some(since) => source.0.load_since(time.to_process(since)),
        None => source.0.load(),
    };
    let loaded = time
        .timeout(timeout, AssertUnwindSafe(load).catch_unwind())
        .await
        .map_err(|_| Error::source(name, format!("load timed out after {timeout:?}")))?
        .map_err(|_| Error::source(name, "the source panicked while loading").panicked())?;
    let cred = loaded?;
    cred.validate()
        .map_err(|why| Error::source(name, format!("credential rejected: {why}")))?;
    Ok(cred)
}

impl Shared {
    pub(crate) async fn load_valid(&self, since: Option<Instant>) -> Result<Credential> {
        load_valid(
            &self.source,
            &self.source_name,
            self.load_timeout,
            since,
            &self.time,
        )
        .await
    }

    /// Offers a load's outcome to the store; a failure is counted and logged and changes nothing.
    pub(crate) fn accept(&self, loaded: Result<Credential>) -> Result<Offered> {
        match loaded {
            Ok(cred) => {
                self.load_succeeded();
                let offered = self.store.offer(cred, &self.counters);
                if offered == Offered::Rotated {
                    self.metrics.rotation();
                }
                Ok(offered)
            }
            Err(err) => {
                self.load_failed(&err);
                tracing::warn!(source = %self.source_name, error = %err, "keeping the last good credential");
                Err(err)
            }
        }
    }

    /// What every successful load reports (health, metrics).
    pub(crate) fn load_succeeded(&self) {
        self.health.succeeded(self.time.system_time());
        self.metrics.loaded();
    }

    /// What every failed load reports (counters, health, metrics).
    pub(crate) fn load_failed(&self, err: &Error) {
        self.counters.source_errors.inc();
        self.metrics.source_error();
        self.health.failed(err, self.time.system_time());
        if err.is_panic() {
            self.counters.background_failures.inc();
        }
    }

    /// The watch path's load. With `quick_retries`, a few quick retries, since a change event
    /// can arrive while a writer is still busy (the stable-read check then reports "kept
    /// changing" or an empty file); never when the source asked to be left alone
    /// ([`Error::retry_after`]). Longer backoff is the driver's business.
    pub(crate) async fn reload_in_background(&self, quick_retries: bool) -> Result<Offered> {
        let loaded = if quick_retries {
            let backoff = ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_millis(200))
                .with_max_times(3)
                .with_jitter();
            let time = self.time.clone();
            (|| self.load_valid(None))
                .retry(backoff)
                .sleep(move |d| time.sleep(d))
                .when(|e: &Error| e.retry_after().is_none())
                .await
        } else {
            self.load_valid(None).await
        };
        self.accept(loaded)
    }

    /// Forces a load now (the public `Client::refresh`), serialized with the refresh path.
    pub(crate) async fn refresh_now(&self) -> Result<Offered> {
        let mut outcome = None;
        let now = self.time.now();
        self.refresher
            .flight
            .run(
                Some(now),
                |_| false,
                |_| async {
                    outcome = Some(self.refresh_once(Some(now)).await);
                },
            )
            .await;
        outcome.unwrap_or_else(|| Err(Error::source(&self.source_name, "refresh did not run")))
    }

    /// One counted load of the source through the refresh path.
    async fn refresh_once(&self, since: Option<Instant>) -> Result<Offered> {
        self.counters.refreshes.inc();
        self.metrics.refresh();
        self.accept(self.load_valid(since).await)
    }

    /// Single-flight refresh for a request that failed: it shares a load with every request
    /// that failed before that load began, never one that began before its own failure.
    /// Returns the credential current afterwards.
    pub(crate) async fn refresh_shared(&self, failed: Failed) -> Arc<Credential> {
        let gather = |last: Option<&Flight<()>>| match last {
            Some(f) if self.time.now().saturating_duration_since(f.finished) < BURST_WINDOW => {
                BURST_GATHER
            }
            _ => Duration::ZERO,
        };
        self.refresher
            .flight
            .run_gathered(
                Some(failed.sent),
                gather,
                |f| f.started > failed.at && f.since.is_some_and(|s| s >= failed.sent),
                |since| async move {
                    // A failure is counted and logged by `accept`; callers go on with what is
                    // current.
                    let _ = self.refresh_once(since).await;
                },
            )
            .await;
        self.store.current()
    }

    /// Waits, bounded, for the store to hold something other than the credential with
    /// fingerprint `rejected`. One wait per rejection episode ([`Store::rotation_wait`]): every
    /// request that failed with it shares the same deadline, and once that has passed they
    /// fail fast, until the credential is accepted again. The deadline bounds the whole wait,
    /// slow source loads included. `cap`: a deadline not to wait past (a request's earlier
    /// wait). Returns the credential, and the deadline the wait had.
    ///
    /// [`Store::rotation_wait`]: crate::store::Store::rotation_wait
    pub(crate) async fn await_rotation(
        &self,
        rejected: u64,
        when: Failed,
        cap: Option<Instant>,
    ) -> Option<(Arc<Credential>, Instant)> {
        if self.refresher.await_rotation.is_zero() {
            return None;
        }
        let (deadline, granted) = self
            .store
            .rotation_wait(rejected, self.refresher.await_rotation);
        let deadline = cap.map_or(deadline, |cap| cap.min(deadline));
        if granted {
            self.counters.rotation_waits.inc();
            tracing::info!(source = %self.source_name, "credential rejected and not rotated yet; waiting for the source");
        }
        let waited = self
            .time
            .timeout_at(deadline, self.poll_for_rotation(rejected, when));
        let cred = match waited.await {
            Ok(cred) => Some(cred),
            Err(_) => {
                // The deadline may have cut a load short just as it delivered.
                let current = self.store.current();
                (current.fingerprint() != rejected).then_some(current)
            }
        };
        cred.map(|cred| (cred, deadline))
    }

    async fn poll_for_rotation(&self, rejected: u64, when: Failed) -> Arc<Credential> {
        let mut rotations = self.store.subscribe();
        loop {
            let current = self.store.current();
            if current.fingerprint() != rejected {
                return current;
            }
            tokio::select! {
                _ = rotations.changed() => continue,
                () = self.time.sleep(AWAIT_POLL_STEP) => {}
            }
            let now = self.time.now();
            let current = self.refresh_shared(when.within(AWAIT_POLL_STEP, now)).await;
            if current.fingerprint() != rejected {
                return current;
            }
        }
    }
}
