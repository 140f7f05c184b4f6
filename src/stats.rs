//! Counters a client keeps, the snapshot it hands out, and the rotation hook's event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A counter for rare events (failures, rotations): one atomic.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Lanes of a [`Striped`] counter: a power of two, as many as the worker threads of a usual
/// runtime (one per core) on the machines keyswap runs on; 8 × 128 bytes per client.
const LANES: usize = 8;

/// One cache line (two: adjacent-line prefetch pairs them on x86) per lane.
#[derive(Default)]
#[repr(align(128))]
struct Lane(AtomicU64);

/// A counter every request increments: one lane per thread (threads are dealt lanes in turn),
/// each on its own cache lines, so threads counting at once do not pass a line between their
/// cores. Read by summing the lanes.
#[derive(Default)]
pub(crate) struct Striped(Box<[Lane; LANES]>);

fn lane() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static LANE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % LANES;
    }
    // During thread teardown the slot may be gone: any lane is correct, only slower.
    LANE.try_with(|l| *l).unwrap_or(0)
}

impl Striped {
    pub(crate) fn inc(&self) {
        self.0[lane()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, l| sum.wrapping_add(l.0.load(Ordering::Relaxed)))
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    /// Striped: incremented by every request, from every thread.
    pub(crate) requests: Striped,
    pub(crate) auth_failures: Counter,
    pub(crate) retries: Counter,
    pub(crate) refreshes: Counter,
    pub(crate) rotations: Counter,
    pub(crate) fallbacks: Counter,
    pub(crate) rotation_waits: Counter,
    pub(crate) source_errors: Counter,
    pub(crate) probes: Counter,
    pub(crate) resigns: Counter,
    pub(crate) background_failures: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.get(),
            auth_failures: self.auth_failures.get(),
            retries: self.retries.get(),
            refreshes: self.refreshes.get(),
            rotations: self.rotations.get(),
            fallbacks: self.fallbacks.get(),
            rotation_waits: self.rotation_waits.get(),
            source_errors: self.source_errors.get(),
            probes: self.probes.get(),
            resigns: self.resigns.get(),
            background_failures: self.background_failures.get(),
        }
    }
}

/// A snapshot of a client's counters, from [`Client::stats`](crate::Client::stats).
///
/// Counters only grow; compare two snapshots to see what happened in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests sent through the client (each call to `send`/`execute`, not each attempt).
    pub requests: u64,
    /// Attempts the server rejected as an authentication failure (each attempt counts: this is
    /// what an API gateway or exchange counts as failed authentications). Compare it with
    /// `rotations`: a few per request in flight at the time of a rotation is expected.
    pub auth_failures: u64,
    /// Attempts re-sent after an authentication failure, with any credential.
    pub retries: u64,
    /// Loads of the source made by the refresh path (single-flight: concurrent failures share one).
    pub refreshes: u64,
    /// Times a new credential replaced the current one.
    pub rotations: u64,
    /// Retries made with the previous credential inside its overlap window.
    pub fallbacks: u64,
    /// Times requests waited for the source to produce a new credential (once per version).
    pub rotation_waits: u64,
    /// Source loads that failed or produced an invalid credential (the last good one was kept).
    pub source_errors: u64,
    /// Requests that tried the newest credential during a propagation hold (see
    /// [`RotationPolicy::probe_interval`](crate::RotationPolicy::probe_interval)).
    pub probes: u64,
    /// Attempts signed again and retried once because the server rejected their timestamp
    /// (after re-learning its clock) or their nonce. Not counted in `auth_failures`.
    pub resigns: u64,
    /// Panics caught in background work (the watch/poll driver, a source's load, an
    /// `on_rotate` hook). Each was logged and the work resumed.
    pub background_failures: u64,
}

/// What [`ClientBuilder::on_rotate`](crate::ClientBuilder::on_rotate) hooks receive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// Version of the credential that was replaced.
    pub old_version: String,
    /// Version of the credential now in use.
    pub new_version: String,
}

pub(crate) type RotateHook = Arc<dyn Fn(&Rotation) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counts_across_threads() {
        let c = Arc::new(Striped::default());
        let threads: Vec<_> = (0..LANES + 3)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.inc()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        c.inc();
        assert_eq!(c.get(), (LANES as u64 + 3) * 1000 + 1);
    }
}
