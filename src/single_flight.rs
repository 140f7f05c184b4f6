//! One load in flight, however many callers ask at once: the primitive under the refresh path
//! (a client's source, after authentication failures) and under the endpoint sources (one
//! fetch per source per process).
//!
//! Policy stays with the caller: each caller says which finished load would answer it (a
//! `reuse` test on the last [`Flight`]). The primitive only guarantees that loads never overlap,
//! that a caller queued behind a load sees that load's outcome before deciding, and that a
//! caller is never handed a load that started before it asked for one it does not accept.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::fork::PerProcess;
use crate::sync::{AsyncMutex, AtomicU64};
use crate::time::Time;

/// A finished load, as later callers see it.
#[derive(Clone)]
pub(crate) struct Flight<T> {
    /// When the load began.
    pub(crate) started: Instant,
    /// The latest `since` any caller had registered when the load began (see
    /// [`SingleFlight::run`]): a caller whose own `since` is not later may be answered by it.
    pub(crate) since: Option<Instant>,
    /// When the load finished.
    pub(crate) finished: Instant,
    pub(crate) value: T,
}

pub(crate) struct SingleFlight<T> {
    /// The last flight, of this process: in a forked child a load the parent had in flight at
    /// the fork never finishes (its task is not there), and its lock would be held forever.
    last: PerProcess<AsyncMutex<Option<Flight<T>>>>,
    time: Time,
    /// The latest `since` registered, as nanoseconds after [`epoch`] (0: none).
    latest_since: AtomicU64,
}

impl<T: Clone> SingleFlight<T> {
    /// A primitive whose instants ([`Flight`]) and gathering waits are on `time`.
    pub(crate) fn new(time: Time) -> Self {
        SingleFlight {
            last: PerProcess::new(),
            time,
            latest_since: AtomicU64::new(0),
        }
    }

    /// Runs `load`, unless the last finished load satisfies `reuse`; then that load's value is
    /// returned. Callers that arrive while a load runs wait for it and then apply their own
    /// `reuse` to it. `since` is the moment the caller's need arose (its request was sent):
    /// the load that starts next carries the latest one registered, so `reuse` can check that
    /// it is recent enough for this caller, and `load` receives it.
    pub(crate) async fn run<F, Fut>(
        &self,
        since: Option<Instant>,
        reuse: impl Fn(&Flight<T>) -> bool,
        load: F,
    ) -> T
    where
        F: FnOnce(Option<Instant>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        self.run_gathered(since, |_| Duration::ZERO, reuse, load)
            .await
    }

    /// Like [`run`](Self::run), but a load that has to start first waits `gather(last)` (with
    /// the lock held): callers arriving meanwhile queue behind it and, since it begins only
    /// after the wait, may be answered by it. A burst of needs spread over a few milliseconds
    /// then costs one load instead of one per caller.
    pub(crate) async fn run_gathered<F, Fut>(
        &self,
        since: Option<Instant>,
        gather: impl FnOnce(Option<&Flight<T>>) -> Duration,
        reuse: impl Fn(&Flight<T>) -> bool,
        load: F,
    ) -> T
    where
        F: FnOnce(Option<Instant>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        if let Some(since) = since {
            self.latest_since
                .fetch_max(nanos_since_epoch(since), Ordering::AcqRel);
        }
        let slot = self.last.get_or_init(|| AsyncMutex::new(None));
        let mut last = slot.lock().await;
        if let Some(flight) = last.as_ref().filter(|f| reuse(f)) {
            return flight.value.clone();
        }
        let wait = gather(last.as_ref());
        if !wait.is_zero() {
            self.time.sleep(wait).await;
        }
        let started = self.time.now();
        let since = from_nanos(self.latest_since.load(Ordering::Acquire));
        let value = load(since).await;
        *last = Some(Flight {
            started,
            since,
            finished: self.time.now(),
            value: value.clone(),
        });
        value
    }
}

/// A process-wide origin for storing instants in an atomic.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        // An origin a little in the past, so instants taken just before the first call still
        // map to a positive offset.
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(3600)).unwrap_or(now)
    })
}

fn nanos_since_epoch(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

fn from_nanos(nanos: u64) -> Option<Instant> {
    (nanos != 0).then(|| {
        epoch()
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or_else(Instant::now)
    })
}

#[cfg(all(test, keyswap_loom))]
mod model;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_load() {
        let flight = Arc::new(SingleFlight::<usize>::new(Time::default()));
        let loads = Arc::new(AtomicUsize::new(0));
        let asked = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (flight, loads) = (flight.clone(), loads.clone());
                tokio::spawn(async move {
                    flight
                        .run(
                            None,
                            |f| f.started > asked,
                            |_| async {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                loads.fetch_add(1, Ordering::SeqCst) + 1
                            },
                        )
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_load_that_began_before_the_caller_asked_does_not_answer_it() {
        let flight = Arc::new(SingleFlight::<&'static str>::new(Time::default()));
        let (began_tx, began_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let early = {
            let flight = flight.clone();
            tokio::spawn(async move {
                flight
                    .run(
                        None,
                        |_| false,
                        |_| async {
                            began_tx.send(()).ok();
                            release_rx.await.ok();
                            "stale"
                        },
                    )
                    .await
            })
        };
        began_rx.await.unwrap();
        // This caller's need arises while the first load is already running.
        let asked = Instant::now();
        let late = {
            let flight = flight.clone();
            tokio::spawn(async move {
                flight
                    .run(None, move |f| f.started > asked, |_| async { "fresh" })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        release_tx.send(()).ok();
        assert_eq!(early.await.unwrap(), "stale");
        assert_eq!(late.await.unwrap(), "fresh");
    }

    #[tokio::test]
    async fn the_load_carries_the_latest_registered_since() {
        let flight = SingleFlight::<Option<Instant>>::new(Time::default());
        let a = Instant::now();
        let b = a + Duration::from_millis(5);
        flight
            .latest_since
            .fetch_max(nanos_since_epoch(b), Ordering::AcqRel);
        let seen = flight
            .run(Some(a), |_| false, |since| async move { since })
            .await;
        let seen = seen.unwrap();
        assert!(
            seen >= b && seen - b < Duration::from_micros(1),
            "{seen:?} {b:?}"
        );
    }

    #[tokio::test]
    async fn a_gathered_load_starts_exactly_after_the_gather_wait_and_answers_latecomers() {
        let manual = crate::time::ManualTime::new();
        let time = Time::new(Arc::new(manual.clone()), Arc::new(manual.clone()));
        let flight = Arc::new(SingleFlight::<usize>::new(time.clone()));
        let loads = Arc::new(AtomicUsize::new(0));
        let ask = |flight: Arc<SingleFlight<usize>>, loads: Arc<AtomicUsize>, at: Instant| {
            tokio::spawn(async move {
                flight
                    .run_gathered(
                        Some(at),
                        |_| Duration::from_millis(20),
                        |f| f.since.is_some_and(|s| s >= at),
                        |_| async { loads.fetch_add(1, Ordering::SeqCst) + 1 },
                    )
                    .await
            })
        };
        let first = ask(flight.clone(), loads.clone(), time.now());
        while manual.pending_sleeps() == 0 {
            tokio::task::yield_now().await;
        }
        manual.advance(Duration::from_millis(19));
        let second = ask(flight.clone(), loads.clone(), time.now());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 0, "not before 20 ms");
        manual.advance(Duration::from_millis(1));
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(second.await.unwrap(), 1, "the latecomer shares the load");
        assert_eq!(manual.sleeps(), [Duration::from_millis(20)]);
    }
}
