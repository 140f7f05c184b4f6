//! The watch path: a background task per client that re-loads the source
//! - when it signals a change (after its debounce),
//! - when its poll interval (jittered ±20 %) elapses,
//! - ahead of the current credential's expiry (a buffer with jitter, as aws-smithy does), and
//! - after a failed load, with capped exponential backoff and jitter, or after the
//!   `Retry-After` the source reported ([`Error::retry_after`](crate::Error::retry_after)),
//!   whichever is longer.
//!
//! Every source gets this discipline from here; none re-implements it. A failed load changes
//! nothing: the last good credential stays in use.
//!
//! The task never dies silently: a panic anywhere in it (a source's `poll_interval` or
//! `changes`, a bug of ours) is caught by [`supervise`], logged, counted in
//! `Stats::background_failures`, and the loop restarts after a backoff, re-subscribing to the
//! source's changes and re-loading at once (a change may have been missed meanwhile).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures_util::FutureExt;

use super::load;
use super::state::Engine;
use crate::source::Changes;
use crate::time::Time;

/// First delay after a failed background load.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest delay between background attempts while the source keeps failing.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Refresh at least this long before expiry…
const EXPIRY_BUFFER_MIN: Duration = Duration::from_secs(10);
/// …and at most this long (a tenth of the lifetime in between).
const EXPIRY_BUFFER_MAX: Duration = Duration::from_secs(300);
/// Never re-load for expiry more often than this (a source that keeps returning the same
/// credential close to its expiry).
const EXPIRY_MIN_WAIT: Duration = Duration::from_millis(500);
/// First delay before restarting a driver loop that panicked…
const RESTART_MIN: Duration = Duration::from_millis(100);
/// …doubling up to this.
const RESTART_MAX: Duration = Duration::from_secs(30);

enum Trigger {
    Changed,
    Timer,
    SignalClosed,
}

/// Starts the driver, on keyswap's background runtime (it outlives the caller's runtime), if
/// the source has anything to drive it; returns its abort handle. `reload_first`: re-load
/// at once (a forked child's new watch: a change may have happened since the fork).
pub(crate) fn spawn(shared: &Arc<Engine>, reload_first: bool) -> Option<tokio::task::AbortHandle> {
    let changes = shared.source.0.changes();
    let poll = shared.source.0.poll_interval().filter(|p| !p.is_zero());
    let expires = shared.store.current().expires_at().is_some();
    if changes.is_none() && poll.is_none() && !expires {
        return None;
    }
    crate::background::spawn(supervise(Arc::downgrade(shared), changes, reload_first))
}

/// Runs the driver loop, restarting it (with backoff) whenever it panics.
async fn supervise(shared: Weak<Engine>, changes: Option<Changes>, reload_first: bool) {
    let mut changes = changes;
    let mut restarts = ExponentialBuilder::default()
        .with_min_delay(RESTART_MIN)
        .with_max_delay(RESTART_MAX)
        .with_jitter()
        .without_max_times()
        .build();
    let mut reload_first = reload_first;
    loop {
        let run = AssertUnwindSafe(run(shared.clone(), changes.take(), reload_first));
        if run.catch_unwind().await.is_ok() {
            return;
        }
        let delay = restarts.next().unwrap_or(RESTART_MAX);
        let restart = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.counters.background_failures.inc();
            tracing::error!(source = %shared.source_name, restart_in = ?delay, "the background refresh task panicked; restarting it");
            shared.time.sleep(delay)
        };
        restart.await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let source = strong.source.clone();
        drop(strong);
        // Asking the source again may panic too: the next turn of this loop catches that.
        changes = match AssertUnwindSafe(async { source.0.changes() })
            .catch_unwind()
            .await
        {
            Ok(changes) => changes,
            Err(_) => continue,
        };
        reload_first = true;
    }
}

/// The failure state: the backoff sequence and the wait the last failure asked for.
struct Failing {
    backoff: ExponentialBackoff,
    wait: Duration,
}

fn backoff(poll: Option<Duration>) -> ExponentialBackoff {
    let cap = poll
        .map_or(BACKOFF_MAX, |p| p.min(BACKOFF_MAX))
        .max(BACKOFF_MIN);
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(cap)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

async fn run(shared: Weak<Engine>, mut changes: Option<Changes>, reload_first: bool) {
    let mut failing: Option<Failing> = None;
    let mut reload_now = reload_first;
    loop {
        let (wait, poll, time) = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // Asked every turn: a source may change its mind (and a panicking one is caught by
            // the supervisor).
            let poll = shared.source.0.poll_interval().filter(|p| !p.is_zero());
            let wait = match &failing {
                Some(f) => Some(f.wait),
                None => {
                    let current = shared.store.current();
                    let now = shared.time.system_time();
                    let expiry = match current.refresh_windows() {
                        // The source chose when (an OAuth2 token's advisory window).
                        Some(w) => Some(
                            w.advisory
                                .duration_since(now)
                                .unwrap_or_default()
                                .max(EXPIRY_MIN_WAIT),
                        ),
                        None => current.time_to_expiry_at(now).map(expiry_wait),
                    };
                    match (poll.map(crate::jitter::jittered), expiry) {
                        (Some(p), Some(e)) => Some(p.min(e)),
                        (p, e) => p.or(e),
                    }
                }
            };
            (wait, poll, shared.time.clone())
        };
        if changes.is_none() && wait.is_none() && !reload_now {
            return;
        }
        // A change signal may catch a writer half-way: a few quick re-reads are worth it. A
        // timer's load that fails is a real failure: the backoff below takes over.
        let trigger = if std::mem::take(&mut reload_now) {
            Trigger::Changed
        } else {
            next_trigger(changes.as_mut(), wait, &time).await
        };
        let quick_retries = match trigger {
            Trigger::SignalClosed => {
                changes = None;
                continue;
            }
            Trigger::Changed => true,
            Trigger::Timer => false,
        };
        // The client may be gone; the driver then ends with it.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match load::reload_in_background(&shared, quick_retries).await {
            Ok(_) => failing = None,
            Err(err) => {
                let state = failing.get_or_insert_with(|| Failing {
                    backoff: backoff(poll),
                    wait: BACKOFF_MIN,
                });
                let next = state.backoff.next().unwrap_or(BACKOFF_MAX);
                state.wait = next.max(err.retry_after().unwrap_or_default());
                tracing::debug!(source = %shared.source_name, retry_in = ?state.wait, "background load failed; backing off");
            }
        }
    }
}

async fn next_trigger(
    changes: Option<&mut Changes>,
    wait: Option<Duration>,
    time: &Time,
) -> Trigger {
    let changed = async {
        match changes {
            Some(changes) => {
                if !changes.changed().await {
                    return Trigger::SignalClosed;
                }
                // A file renamed into place cannot be read half-written: no need to wait.
                if !changes.atomic() {
                    time.sleep(changes.debounce()).await;
                }
                changes.mark_seen();
                Trigger::Changed
            }
            None => std::future::pending().await,
        }
    };
    let timer = async {
        match wait {
            Some(wait) => {
                time.sleep(wait).await;
                Trigger::Timer
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        trigger = changed => trigger,
        trigger = timer => trigger,
    }
}

/// How long to wait before re-loading a credential that expires in `ttl`: a buffer of a
/// tenth of the lifetime, clamped to 10 s – 5 min, plus up to 50 % jitter so a fleet spreads
/// out; never more than half the time left, never less than [`EXPIRY_MIN_WAIT`].
pub(crate) fn expiry_wait(ttl: Duration) -> Duration {
    let buffer = (ttl / 10).clamp(EXPIRY_BUFFER_MIN, EXPIRY_BUFFER_MAX);
    let lead = buffer.mul_f64(1.0 + 0.5 * fastrand::f64()).min(ttl / 2);
    (ttl - lead).max(EXPIRY_MIN_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ManualTime, TimeSource};
    use crate::{BoxFuture, Client, Credential, CredentialSource, Error, Source};
    use std::sync::Mutex;
    use std::time::Instant;

    /// A source whose outcomes the test scripts; it records when (virtual time) it was loaded.
    #[derive(Clone, Default)]
    struct Scripted {
        loads: Arc<Mutex<Vec<Instant>>>,
        /// Outcomes after the first load: each is popped in turn, the last one repeats.
        script: Arc<Mutex<Vec<Outcome>>>,
        first: Option<Credential>,
        poll: Option<Duration>,
        /// The client's clock: the driver runs on keyswap's background thread, and every one of
        /// its timers is on this clock.
        time: ManualTime,
    }

    #[derive(Clone)]
    enum Outcome {
        Ok(Credential),
        Fail(Option<Duration>),
    }

    impl CredentialSource for Scripted {
        fn name(&self) -> String {
            "scripted".into()
        }
        fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
            Box::pin(async move {
                let mut loads = self.loads.lock().unwrap();
                loads.push(self.time.now());
                if loads.len() == 1 {
                    return Ok(self.first.clone().unwrap_or_else(|| Credential::new("k0")));
                }
                let mut script = self.script.lock().unwrap();
                let next = if script.len() > 1 {
                    script.remove(0)
                } else {
                    script[0].clone()
                };
                match next {
                    Outcome::Ok(c) => Ok(c),
                    Outcome::Fail(None) => Err(Error::source("scripted", "down")),
                    Outcome::Fail(Some(after)) => {
                        Err(Error::source("scripted", "429").with_retry_after(after))
                    }
                }
            })
        }
        fn poll_interval(&self) -> Option<Duration> {
            self.poll
        }
    }

    impl Scripted {
        fn gaps(&self) -> Vec<Duration> {
            let loads = self.loads.lock().unwrap();
            loads.windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    async fn client(source: &Scripted) -> Client {
        Client::builder()
            .source(Source::custom(source.clone()))
            .time_source(source.time.clone())
            .sleep_impl(source.time.clone())
            .build()
            .await
            .unwrap()
    }

    /// Moves the client's time forward by `total`, one timer at a time: waits (in real time)
    /// until the driver is parked on its next timer, then moves exactly to it. A driver that
    /// parks on no timer within 500 ms has ended (nothing left to drive).
    async fn run_for(time: &ManualTime, total: Duration) {
        let end = time.elapsed() + total;
        loop {
            let parked = std::time::Instant::now();
            while time.pending_sleeps() == 0 {
                if parked.elapsed() > Duration::from_millis(500) {
                    time.advance(end.saturating_sub(time.elapsed()));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let next = *time.sleeps().last().expect("a timer");
            let left = end.saturating_sub(time.elapsed());
            if next > left {
                time.advance(left);
                return;
            }
            time.advance(next);
        }
    }

    #[tokio::test]
    async fn failed_loads_back_off_exponentially_with_a_cap() {
        let source = Scripted {
            poll: Some(Duration::from_secs(60)),
            script: Arc::new(Mutex::new(vec![Outcome::Fail(None)])),
            ..Default::default()
        };
        let client = client(&source).await;
        run_for(&source.time, Duration::from_secs(600)).await;
        let gaps = source.gaps();
        // First gap: the poll (48–72 s). Then 1–2 s, 2–4 s, 4–8 s … capped at the poll
        // interval (with up to as much jitter again).
        assert!(gaps[0] >= Duration::from_secs(48), "{gaps:?}");
        for (i, gap) in gaps[1..5].iter().enumerate() {
            let base = Duration::from_secs(1 << i);
            assert!(
                *gap >= base && *gap < base * 2 + Duration::from_millis(1),
                "{gaps:?}"
            );
        }
        assert!(
            gaps.iter().all(|g| *g <= Duration::from_secs(121)),
            "{gaps:?}"
        );
        let stats = client.stats();
        assert_eq!(stats.source_errors as usize, gaps.len());
        assert_eq!(
            client.credential_version(),
            Credential::new("k0").version(),
            "last good kept"
        );
    }

    #[tokio::test]
    async fn a_retry_after_is_honoured_and_success_resets_the_backoff() {
        let source = Scripted {
            poll: Some(Duration::from_secs(100)),
            script: Arc::new(Mutex::new(vec![
                Outcome::Fail(Some(Duration::from_secs(40))),
                Outcome::Ok(Credential::new("k1")),
            ])),
            ..Default::default()
        };
        let client = client(&source).await;
        run_for(&source.time, Duration::from_secs(300)).await;
        let gaps = source.gaps();
        assert!(
            gaps[1] >= Duration::from_secs(40),
            "waited for Retry-After: {gaps:?}"
        );
        assert!(gaps[1] < Duration::from_secs(42), "{gaps:?}");
        // After the success: the normal poll again, not the backoff.
        assert!(gaps[2] >= Duration::from_secs(80), "{gaps:?}");
        assert_eq!(client.credential_version(), Credential::new("k1").version());
    }

    #[tokio::test]
    async fn a_credential_with_an_expiry_is_refreshed_ahead_of_it() {
        let time = ManualTime::new();
        let expiring =
            Credential::new("k0").with_expiry(time.system_time() + Duration::from_secs(600));
        let source = Scripted {
            time,
            first: Some(expiring),
            poll: None,
            script: Arc::new(Mutex::new(vec![Outcome::Ok(Credential::new("k1"))])),
            ..Default::default()
        };
        let client = client(&source).await;
        run_for(&source.time, Duration::from_secs(700)).await;
        let gaps = source.gaps();
        assert_eq!(
            gaps.len(),
            1,
            "k1 has no expiry and there is no poll: {gaps:?}"
        );
        // Buffer: 60 s (a tenth) plus up to 50 % jitter: refresh 510–540 s after load.
        assert!(
            gaps[0] >= Duration::from_secs(509) && gaps[0] <= Duration::from_secs(541),
            "{gaps:?}"
        );
        assert_eq!(client.credential_version(), Credential::new("k1").version());
    }

    #[test]
    fn expiry_wait_stays_inside_its_bounds() {
        for _ in 0..100 {
            let w = expiry_wait(Duration::from_secs(3600));
            assert!(
                w >= Duration::from_secs(3600 - 450) && w <= Duration::from_secs(3600 - 300),
                "{w:?}"
            );
            let short = expiry_wait(Duration::from_secs(4));
            assert_eq!(
                short,
                Duration::from_secs(2),
                "never more than half the time left"
            );
            assert_eq!(expiry_wait(Duration::ZERO), EXPIRY_MIN_WAIT);
        }
    }
}
