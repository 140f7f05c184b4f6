//! Time and sleep, injectable (like aws-smithy's `TimeSource` and `AsyncSleep`).
//!
//! Every timing decision of the rotation engine — the rotation wait's deadline, the overlap
//! window, the propagation hold and its probes, the refresh path's burst gathering, the load
//! timeout, the background driver's poll, backoff and refresh-ahead-of-expiry timers, health
//! timestamps — reads the client's [`TimeSource`] and waits on its [`AsyncSleep`]. By default
//! those are the system clock ([`SystemClock`]) and Tokio's timer ([`TokioSleep`]). A test
//! gives both a [`ManualTime`] and then moves time by hand, asserting exact timings without
//! real sleeps:
//!
//! ```
//! # async fn demo() -> Result<(), keyswap::Error> {
//! use std::time::Duration;
//! use keyswap::time::ManualTime;
//! use keyswap::{Auth, Client, Source};
//!
//! let time = ManualTime::new();
//! let client = Client::builder()
//!     .source(Source::fixed("k"))
//!     .auth(Auth::bearer())
//!     .time_source(time.clone())
//!     .sleep_impl(time.clone())
//!     .build()
//!     .await?;
//! time.advance(Duration::from_secs(30)); // wakes every keyswap timer due by then
//! # let _ = client; Ok(()) }
//! ```
//!
//! What the injected time does not govern: the timers inside sources (a file's poll, an
//! endpoint's fetch schedule), which are shared by every client of the source in the process,
//! and reqwest's own timeouts. The `since` instants the engine hands to
//! [`CredentialSource::load_since`](crate::CredentialSource::load_since) are translated to the
//! process clock, so a source never compares instants from two clocks.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// A clock: the monotonic instant for deadlines and windows, and wall-clock time for expiries
/// and health timestamps.
pub trait TimeSource: fmt::Debug + Send + Sync + 'static {
    /// The current monotonic instant.
    fn now(&self) -> Instant;
    /// The current wall-clock time.
    fn system_time(&self) -> SystemTime;
}

/// A way to wait: the future completes once `duration` has passed on the matching
/// [`TimeSource`].
pub trait AsyncSleep: fmt::Debug + Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The future an [`AsyncSleep`] returns.
pub struct Sleep(Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

impl Sleep {
    /// Wraps any `Send` future as a sleep.
    pub fn new(future: impl Future<Output = ()> + Send + 'static) -> Self {
        Sleep(Box::pin(future))
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sleep")
    }
}

/// The default [`TimeSource`]: `Instant::now()` and `SystemTime::now()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// A shared clock is a clock (an `Arc<dyn TimeSource>` passed where `impl TimeSource` is asked).
impl<T: TimeSource + ?Sized> TimeSource for Arc<T> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn system_time(&self) -> SystemTime {
        (**self).system_time()
    }
}

impl TimeSource for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The default [`AsyncSleep`]: `tokio::time::sleep` (so a Tokio test with paused time drives
/// it too).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// Time that moves only when told to: a [`TimeSource`] and an [`AsyncSleep`] in one, for
/// tests (of the engine's timers, and of the signers' timestamps and nonces). Cheap to clone;
/// clones share the same time.
///
/// It starts at the instant and wall-clock time of its creation (or at a wall-clock time of
/// your choosing, [`starting_at`](Self::starting_at)). [`advance`](Self::advance) moves both;
/// [`set_system_time`](Self::set_system_time) steps the wall clock alone, as an NTP step does,
/// so a test can put the host clock behind or ahead. A sleep completes once
/// [`advance`](Self::advance) has moved time to or past its deadline; a zero sleep completes at
/// once. Every sleep asked for is recorded ([`sleeps`](Self::sleeps)), and
/// [`pending_sleeps`](Self::pending_sleeps) tells how many are waiting, so a test can wait
/// until the engine is parked on a timer before moving time.
#[derive(Clone)]
pub struct ManualTime {
    inner: Arc<Manual>,
}

struct Manual {
    start: Instant,
    state: Mutex<ManualState>,
}

struct ManualState {
    elapsed: Duration,
    /// The wall clock stood at `system` when `elapsed` was `system_set_at`.
    system: SystemTime,
    system_set_at: Duration,
    next_id: u64,
    /// Sleeps polled and not yet due: id → (deadline as elapsed time, waker).
    waiting: HashMap<u64, (Duration, Waker)>,
    asked: Vec<Duration>,
}

impl ManualTime {
    /// Manual time starting now.
    pub fn new() -> Self {
        ManualTime::starting_at(SystemTime::now())
    }

    /// Manual time whose wall clock starts at `system` (the monotonic instant starts now).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use keyswap::time::{ManualTime, TimeSource};
    ///
    /// let time = ManualTime::starting_at(UNIX_EPOCH + Duration::from_millis(1_499_827_319_559));
    /// time.advance(Duration::from_millis(1));
    /// assert_eq!(time.system_time(), UNIX_EPOCH + Duration::from_millis(1_499_827_319_560));
    /// ```
    pub fn starting_at(system: SystemTime) -> Self {
        ManualTime {
            inner: Arc::new(Manual {
                start: Instant::now(),
                state: Mutex::new(ManualState {
                    elapsed: Duration::ZERO,
                    system,
                    system_set_at: Duration::ZERO,
                    next_id: 0,
                    waiting: HashMap::new(),
                    asked: Vec::new(),
                }),
            }),
        }
    }

    /// Steps the wall clock to `system`, forwards or backwards, leaving the monotonic instant
    /// and every sleep as they are; later [`advance`](Self::advance)s move it on from there.
    pub fn set_system_time(&self, system: SystemTime) {
        let mut state = self.state();
        state.system = system;
        state.system_set_at = state.elapsed;
    }

    fn state(&self) -> MutexGuard<'_, ManualState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves time forward by `by` and wakes every sleep due by then.
    pub fn advance(&self, by: Duration) {
        let due: Vec<Waker> = {
            let mut state = self.state();
            state.elapsed = state.elapsed.saturating_add(by);
            let now = state.elapsed;
            let ids: Vec<u64> = state
                .waiting
                .iter()
                .filter(|(_, (deadline, _))| *deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| state.waiting.remove(&id).map(|(_, waker)| waker))
                .collect()
        };
        // Woken outside the lock: a woken task may ask for the time at once.
        due.into_iter().for_each(Waker::wake);
    }

    /// How far time has been moved since creation.
    pub fn elapsed(&self) -> Duration {
        self.state().elapsed
    }

    /// The sleeps that have been polled and are not due yet.
    pub fn pending_sleeps(&self) -> usize {
        self.state().waiting.len()
    }

    /// Every sleep duration asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().asked.clone()
    }
}

impl Default for ManualTime {
    fn default() -> Self {
        ManualTime::new()
    }
}

impl fmt::Debug for ManualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("ManualTime")
            .field("elapsed", &state.elapsed)
            .field("pending_sleeps", &state.waiting.len())
            .finish()
    }
}

impl TimeSource for ManualTime {
    fn now(&self) -> Instant {
        saturating_add(self.inner.start, self.elapsed())
    }

    fn system_time(&self) -> SystemTime {
        let state = self.state();
        let since = state.elapsed.saturating_sub(state.system_set_at);
        state.system.checked_add(since).unwrap_or(state.system)
    }
}

impl AsyncSleep for ManualTime {
    fn sleep(&self, duration: Duration) -> Sleep {
        let (id, deadline) = {
            let mut state = self.state();
            state.asked.push(duration);
            state.next_id += 1;
            (state.next_id, state.elapsed.saturating_add(duration))
        };
        Sleep::new(ManualSleep {
            time: self.clone(),
            id,
            deadline,
        })
    }
}

struct ManualSleep {
    time: ManualTime,
    id: u64,
    deadline: Duration,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.time.state();
        if state.elapsed >= self.deadline {
            state.waiting.remove(&self.id);
            return Poll::Ready(());
        }
        state
            .waiting
            .insert(self.id, (self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        self.time.state().waiting.remove(&self.id);
    }
}

/// `now + d` on the process clock, saturating: settings may be as large as `Duration::MAX`.
pub(crate) fn after(d: Duration) -> Instant {
    saturating_add(Instant::now(), d)
}

/// `at + d`, saturating at an instant further away than any wait keyswap makes.
pub(crate) fn saturating_add(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).unwrap_or_else(|| far_future(at))
}

/// An instant further away than any wait keyswap makes (about 30 years).
pub(crate) fn far_future(now: Instant) -> Instant {
    let mut span = Duration::from_secs(86_400 * 365 * 30);
    loop {
        if let Some(at) = now.checked_add(span) {
            return at;
        }
        span /= 2;
    }
}

/// A client's time and sleep, with the helpers the engine uses.
#[derive(Clone, Debug)]
pub(crate) struct Time {
    clock: Arc<dyn TimeSource>,
    sleeper: Arc<dyn AsyncSleep>,
}

/// A wait cut short by its deadline.
#[derive(Debug)]
pub(crate) struct Elapsed;

impl Default for Time {
    /// The system clock and Tokio's timer, shared by every client that keeps the defaults.
    fn default() -> Self {
        static DEFAULT: std::sync::OnceLock<Time> = std::sync::OnceLock::new();
        DEFAULT
            .get_or_init(|| Time::new(Arc::new(SystemClock), Arc::new(TokioSleep)))
            .clone()
    }
}

impl Time {
    pub(crate) fn new(clock: Arc<dyn TimeSource>, sleeper: Arc<dyn AsyncSleep>) -> Self {
        Time { clock, sleeper }
    }

    pub(crate) fn clock(&self) -> Arc<dyn TimeSource> {
        Arc::clone(&self.clock)
    }

    pub(crate) fn sleeper(&self) -> Arc<dyn AsyncSleep> {
        Arc::clone(&self.sleeper)
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    pub(crate) fn system_time(&self) -> SystemTime {
        self.clock.system_time()
    }

    pub(crate) fn sleep(&self, duration: Duration) -> Sleep {
        self.sleeper.sleep(duration)
    }

    /// `now + d`, saturating: settings may be as large as `Duration::MAX`.
    pub(crate) fn after(&self, d: Duration) -> Instant {
        saturating_add(self.now(), d)
    }

    /// Runs `future` until `deadline` (on this clock).
    pub(crate) async fn timeout_at<F: Future>(
        &self,
        deadline: Instant,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let wait = deadline.saturating_duration_since(self.now());
        self.timeout(wait, future).await
    }

    /// Runs `future` for at most `limit`.
    pub(crate) async fn timeout<F: Future>(
        &self,
        limit: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::select! {
            biased;
            out = future => Ok(out),
            () = self.sleep(limit) => Err(Elapsed),
        }
    }

    /// `at` (on this clock) as an instant of the process clock, for sources: the same distance
    /// in the past.
    pub(crate) fn to_process(&self, at: Instant) -> Instant {
        let ago = self.now().saturating_duration_since(at);
        let now = Instant::now();
        now.checked_sub(ago).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleeps_complete_exactly_when_time_reaches_them() {
        let time = ManualTime::new();
        let t0 = time.now();
        let short = tokio::spawn(time.sleep(Duration::from_millis(100)));
        let long = tokio::spawn(time.sleep(Duration::from_millis(300)));
        while time.pending_sleeps() < 2 {
            tokio::task::yield_now().await;
        }
        time.advance(Duration::from_millis(99));
        tokio::task::yield_now().await;
        assert_eq!(time.pending_sleeps(), 2);
        time.advance(Duration::from_millis(1));
        short.await.unwrap();
        assert_eq!(time.pending_sleeps(), 1);
        assert!(!long.is_finished());
        time.advance(Duration::from_millis(200));
        long.await.unwrap();
        assert_eq!(time.now() - t0, Duration::from_millis(300));
        assert_eq!(
            time.sleeps(),
            [Duration::from_millis(100), Duration::from_millis(300)]
        );
    }

    #[tokio::test]
    async fn a_dropped_sleep_is_no_longer_pending_and_zero_sleeps_are_ready() {
        let time = ManualTime::new();
        time.sleep(Duration::ZERO).await;
        let mut sleep = time.sleep(Duration::from_secs(1));
        assert!(futures_util::poll!(&mut sleep).is_pending());
        assert_eq!(time.pending_sleeps(), 1);
        drop(sleep);
        assert_eq!(time.pending_sleeps(), 0);
    }

    #[tokio::test]
    async fn timeout_is_measured_on_the_injected_clock() {
        let manual = ManualTime::new();
        let wall_start = manual.system_time();
        let time = Time::new(Arc::new(manual.clone()), Arc::new(manual.clone()));
        let waiter = {
            let time = time.clone();
            tokio::spawn(async move {
                time.timeout(Duration::from_secs(60), std::future::pending::<()>())
                    .await
            })
        };
        while manual.pending_sleeps() == 0 {
            tokio::task::yield_now().await;
        }
        manual.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        manual.advance(Duration::from_secs(1));
        assert!(waiter.await.unwrap().is_err());
        assert_eq!(manual.system_time(), wall_start + Duration::from_secs(60));
    }

    #[test]
    fn adding_to_an_instant_saturates_far_ahead() {
        let now = Instant::now();
        assert_eq!(
            saturating_add(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        // `Duration::MAX` (an `await_rotation` of "forever") neither panics nor wraps: it
        // lands further ahead than any wait keyswap makes.
        let forever = saturating_add(now, Duration::MAX);
        assert!(forever >= now + Duration::from_secs(86_400 * 365));
        assert_eq!(far_future(now), forever);
    }

    #[test]
    fn the_wall_clock_starts_where_asked_moves_with_advance_and_steps_alone() {
        let epoch_ms = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let time = ManualTime::starting_at(epoch_ms(1_000_000));
        let t0 = time.now();
        time.advance(Duration::from_millis(60));
        assert_eq!(time.system_time(), epoch_ms(1_000_060));
        // A step back: the wall clock moves, the monotonic instant does not.
        time.set_system_time(epoch_ms(990_000));
        assert_eq!(time.system_time(), epoch_ms(990_000));
        assert_eq!(time.now() - t0, Duration::from_millis(60));
        time.advance(Duration::from_millis(5));
        assert_eq!(time.system_time(), epoch_ms(990_005));
        assert_eq!(time.now() - t0, Duration::from_millis(65));
    }

    #[test]
    fn instants_map_to_the_process_clock_by_distance() {
        let manual = ManualTime::new();
        let time = Time::new(Arc::new(manual.clone()), Arc::new(manual.clone()));
        manual.advance(Duration::from_secs(3600));
        let ten_ago = time.now() - Duration::from_secs(10);
        let mapped = time.to_process(ten_ago);
        let distance = Instant::now().duration_since(mapped);
        assert!(distance >= Duration::from_secs(10) && distance < Duration::from_secs(11));
    }
}
