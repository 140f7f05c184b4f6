//! The bounded busy-wait of a blocking call. While a response is due and no other thread is
//! inside a blocking call, the caller polls for it without sleeping for up to `spin()` before
//! it blocks in `epoll_wait`: on loopback or a LAN the answer usually comes within it, and the
//! caller is spared the sleep and the wake-up (a context switch each way, the larger part of a
//! fast round trip). Bounded, so a slow server costs at most this much CPU per request; never
//! with concurrent callers, which would take CPU from each other.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::Poll;
use std::time::{Duration, Instant};

/// `KEYSWAP_SYNC_SPIN_US` (read once) overrides it; 0 turns the spin off.
const DEFAULT_SPIN: Duration = Duration::from_micros(200);

fn spin() -> Duration {
    static SPIN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        std::env::var("KEYSWAP_SYNC_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_SPIN, Duration::from_micros)
    })
}

/// Threads inside a blocking call, over every runtime: spinning only when alone.
static BLOCKING_CALLERS: AtomicUsize = AtomicUsize::new(0);

/// Counts the calling thread among the blocking callers while it lives.
pub(crate) struct BlockingCall(());

impl BlockingCall {
    pub(crate) fn enter() -> BlockingCall {
        BLOCKING_CALLERS.fetch_add(1, Relaxed);
        BlockingCall(())
    }
}

impl Drop for BlockingCall {
    fn drop(&mut self) {
        BLOCKING_CALLERS.fetch_sub(1, Relaxed);
    }
}

/// Polls `fut`; while it is pending, for at most `spin()` and while this is the only blocking
/// caller, lets the runtime poll its driver without blocking (`yield_now`: a zero-timeout
/// `epoll_wait`) and polls again; then waits for it normally.
pub(crate) async fn spin_then_wait<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut until = None;
    loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = polled {
            return out;
        }
        let now = Instant::now();
        let until = *until.get_or_insert_with(|| now + spin());
        if now >= until || BLOCKING_CALLERS.load(Relaxed) > 1 {
            return fut.await;
        }
        tokio::task::yield_now().await;
    }
}
