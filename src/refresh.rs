//! The refresh path: load, validate, swap — one load in flight per client however many requests
//! failed at once — and the bounded, shared wait for a rotation the source has not delivered yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use crate::client::Shared;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::source::Source;
use crate::store::Offered;

/// While waiting for a rotation, how often the source is re-loaded (single-flight). Sources
/// with change events usually deliver sooner.
const AWAIT_POLL_STEP: Duration = Duration::from_millis(100);

pub(crate) struct Refresher {
    lock: tokio::sync::Mutex<()>,
    /// Completed refreshes. A caller that sees it move while queueing reuses that result.
    completed: AtomicU64,
    /// The one rotation wait: (fingerprint of the rejected credential, deadline).
    wait: std::sync::Mutex<Option<(u64, Instant)>>,
    await_rotation: Duration,
}

impl Refresher {
    pub(crate) fn new(await_rotation: Duration) -> Self {
        Refresher {
            lock: tokio::sync::Mutex::new(()),
            completed: AtomicU64::new(0),
            wait: std::sync::Mutex::new(None),
            await_rotation,
        }
    }
}

/// Loads `source` once, bounded by `timeout`, and validates what it produced.
pub(crate) async fn load_valid(
    source: &Source,
    name: &str,
    timeout: Duration,
) -> Result<Credential> {
    let cred = tokio::time::timeout(timeout, source.0.load())
        .await
        .map_err(|_| Error::source(name, format!("load timed out after {timeout:?}")))??;
    cred.validate()
        .map_err(|why| Error::source(name, format!("credential rejected: {why}")))?;
    Ok(cred)
}

impl Shared {
    pub(crate) async fn load_valid(&self) -> Result<Credential> {
        load_valid(&self.source, &self.source_name, self.load_timeout).await
    }

    /// Offers a load's outcome to the store; a failure is counted and logged and changes nothing.
    pub(crate) fn accept(&self, loaded: Result<Credential>) -> Result<Offered> {
        match loaded {
            Ok(cred) => Ok(self.store.offer(cred, &self.counters)),
            Err(err) => {
                self.counters.source_errors.inc();
                tracing::warn!(source = %self.source_name, error = %err, "keeping the last good credential");
                Err(err)
            }
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
            (|| self.load_valid())
                .retry(backoff)
                .when(|e: &Error| e.retry_after().is_none())
                .await
        } else {
            self.load_valid().await
        };
        self.accept(loaded)
    }

    /// Forces a load now (the public `Client::refresh`), serialized with the refresh path.
    pub(crate) async fn refresh_now(&self) -> Result<Offered> {
        let _guard = self.refresher.lock.lock().await;
        self.refresh_locked().await
    }

    /// One counted load of the source; the caller holds the refresh lock.
    async fn refresh_locked(&self) -> Result<Offered> {
        self.counters.refreshes.inc();
        let outcome = self.accept(self.load_valid().await);
        self.refresher.completed.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    /// Single-flight refresh: the first caller loads; callers that queued behind it reuse its
    /// result instead of loading again. Returns the credential current afterwards.
    pub(crate) async fn refresh_shared(&self) -> Arc<Credential> {
        let seen = self.refresher.completed.load(Ordering::Acquire);
        let _guard = self.refresher.lock.lock().await;
        if self.refresher.completed.load(Ordering::Acquire) == seen {
            // A failure is counted and logged by `accept`; the caller goes on with what is current.
            let _ = self.refresh_locked().await;
        }
        self.store.current()
    }

    /// Waits, bounded, for the store to hold something other than the credential with
    /// fingerprint `rejected`. One wait per rejected credential: every request that failed with
    /// it shares the same deadline, and once that has passed they fail fast.
    pub(crate) async fn await_rotation(&self, rejected: u64) -> Option<Arc<Credential>> {
        if self.refresher.await_rotation.is_zero() {
            return None;
        }
        let deadline = {
            let mut wait = self
                .refresher
                .wait
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match *wait {
                Some((fingerprint, deadline)) if fingerprint == rejected => deadline,
                _ => {
                    let deadline = Instant::now() + self.refresher.await_rotation;
                    *wait = Some((rejected, deadline));
                    self.counters.rotation_waits.inc();
                    tracing::info!(source = %self.source_name, "credential rejected and not rotated yet; waiting for the source");
                    deadline
                }
            }
        };
        let mut rotations = self.store.subscribe();
        loop {
            let current = self.store.current();
            if current.fingerprint() != rejected {
                return Some(current);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let step = AWAIT_POLL_STEP.min(deadline - now);
            tokio::select! {
                _ = rotations.changed() => continue,
                _ = tokio::time::sleep(step) => {}
            }
            let current = self.refresh_shared().await;
            if current.fingerprint() != rejected {
                return Some(current);
            }
        }
    }
}
