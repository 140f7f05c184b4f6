//! The runtime a thread's blocking `Client` requests run on: a current-thread runtime which the
//! calling thread drives itself inside `block_on`, with the thread's own connection pool for
//! each client (`pool`). A request makes no thread hop: the caller writes the request, waits in
//! `epoll` for the answer and reads it; no wake-up of a worker, no wake-up of the caller by a
//! worker, and with several calling threads none of them waits for another to drive its I/O
//! (with one runtime shared by all, one caller drove the I/O of every other and woke it:
//! 8 threads spent about a fifth of their time parking and waking).
//!
//! Between requests nobody drives it: pooled connections do not see the server close them,
//! timers do not fire. Two things make up for it: a caller coming back after `CATCH_UP_AFTER`
//! without one first lets the runtime handle what happened meanwhile (`catch_up`: connections
//! the server closed are dropped from the pool, so the request is not sent on a dead one), and
//! the keeper (`keeper`) does the same for runtimes idle since its last round.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

use keyswap::reqwest;

use crate::pools::{HttpConfig, Pools};
use crate::spin::{BlockingCall, spin_then_wait};

/// A caller coming back after this long without a call first lets the runtime catch up.
const CATCH_UP_AFTER: Duration = Duration::from_millis(1);

pub(crate) struct SyncRuntime {
    /// `Some` until dropped (`Drop` shuts it down without waiting).
    rt: Option<tokio::runtime::Runtime>,
    /// Callers inside `block_on`.
    active: AtomicUsize,
    /// Calls so far (the keeper sees activity between two of its rounds by a change).
    calls: AtomicU64,
    /// When the last caller left, in nanoseconds after `epoch()`.
    left_at: AtomicU64,
    /// This thread's `reqwest::Client` of each keyswap client.
    pools: Pools,
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Lets a current-thread runtime handle its pending I/O events and timers, and run the tasks
/// they wake, before the caller's own future goes on. In `block_on` the caller's future is
/// polled first: after the first yield the runtime polls its driver (which wakes the
/// connection tasks whose sockets changed), after the second it has run them.
async fn catch_up() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

impl SyncRuntime {
    /// Fails when the OS refuses what a runtime needs (an `epoll` instance, an `eventfd`: out
    /// of file descriptors).
    pub(crate) fn new() -> std::io::Result<SyncRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("keyswap-sync")
            .build()?;
        Ok(SyncRuntime {
            rt: Some(rt),
            active: Default::default(),
            calls: Default::default(),
            left_at: Default::default(),
            pools: Default::default(),
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime present until dropped")
    }

    /// Runs `fut` to completion on the calling thread (the GIL must not be held). Any thread
    /// may call it (a `stream=True` body read on another thread); one drives at a time.
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.active.fetch_add(1, SeqCst);
        let _blocking = BlockingCall::enter();
        self.calls.fetch_add(1, Relaxed);
        struct Exit<'a>(&'a SyncRuntime);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.left_at.store(nanos_now(), Relaxed);
                self.0.active.fetch_sub(1, SeqCst);
            }
        }
        let _exit = Exit(self);
        let idle = nanos_now().saturating_sub(self.left_at.load(Relaxed));
        if idle > CATCH_UP_AFTER.as_nanos() as u64 {
            self.rt().block_on(async {
                catch_up().await;
                spin_then_wait(fut).await
            })
        } else {
            self.rt().block_on(spin_then_wait(fut))
        }
    }

    /// This thread's `reqwest::Client` for the keyswap client configured by `config`, built on
    /// first use.
    pub(crate) fn pool(&self, config: &Arc<HttpConfig>) -> reqwest::Result<reqwest::Client> {
        self.pools.get(config)
    }

    /// The calls so far (the keeper tells activity between two rounds by a change).
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    /// Whether a caller is inside `block_on` now.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(SeqCst) > 0
    }

    /// What a caller coming back would do first, for a runtime nobody calls: drop the pools of
    /// closed clients, then handle pending events (connections the server closed are released).
    pub(crate) fn tend(&self) {
        self.pools.prune();
        self.rt().block_on(catch_up());
    }
}

impl Drop for SyncRuntime {
    fn drop(&mut self) {
        // The pools first (their connection tasks then end with the runtime), and no waiting
        // for blocking tasks (a DNS lookup) that may still run.
        self.pools.clear();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
