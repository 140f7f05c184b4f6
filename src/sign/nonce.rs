//! [`Nonces`]: strictly increasing, time-derived nonces.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::{SystemClock, TimeSource};

/// The unit of a time-derived nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceUnit {
    /// Milliseconds since the UNIX epoch (13 digits today).
    Millis,
    /// Microseconds since the UNIX epoch (16 digits today).
    Micros,
}

/// A source of strictly increasing nonces, derived from the host time:
/// `next = max(last + 1, now in the unit)`, taken with a compare-and-swap loop, so no two
/// calls ever return the same value, from any thread. Share one per client (in an `Arc`) so
/// that all clones of the client draw from it.
///
/// Use one [`NonceUnit`] per `Nonces`: after a microsecond nonce, millisecond calls keep
/// counting up from it (still increasing, but no longer milliseconds).
pub struct Nonces {
    last: AtomicU64,
    host: Arc<dyn TimeSource>,
}

impl Default for Nonces {
    fn default() -> Self {
        Nonces::new()
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("last", &self.last())
            .finish()
    }
}

impl Nonces {
    /// Nonces from the system time.
    pub fn new() -> Self {
        Nonces::with_time_source(SystemClock)
    }

    /// Nonces from the wall-clock time of another [`TimeSource`] (a
    /// [`ManualTime`](crate::time::ManualTime) in tests).
    pub fn with_time_source(host: impl TimeSource) -> Self {
        Nonces {
            last: AtomicU64::new(0),
            host: Arc::new(host),
        }
    }

    /// The next nonce: the current time in `unit`, or one more than the last nonce if that is
    /// larger.
    pub fn next(&self, unit: NonceUnit) -> u64 {
        self.next_from(now_in(self.host.system_time(), unit))
    }

    /// The next nonce given the current time already expressed in the nonce's unit:
    /// `max(last + 1, now)`. (At `u64::MAX` it can go no higher; no clock reaches that.)
    pub fn next_from(&self, now: u64) -> u64 {
        let mut current = self.last.load(Ordering::Acquire);
        loop {
            let next = current.saturating_add(1).max(now);
            match self.last.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }

    /// The last nonce handed out (0 before the first).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }
}

fn now_in(t: SystemTime, unit: NonceUnit) -> u64 {
    let Ok(d) = t.duration_since(UNIX_EPOCH) else {
        return 0;
    };
    let v = match unit {
        NonceUnit::Millis => d.as_millis(),
        NonceUnit::Micros => d.as_micros(),
    };
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::clock::from_unix_ms;
    use crate::sign::testutil::manual_at as manual;
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn follows_time_and_never_repeats() {
        let host = manual(1_616_492_376_594);
        let n = Nonces::with_time_source(host.clone());
        assert_eq!(n.next(NonceUnit::Millis), 1_616_492_376_594);
        // Same millisecond: one more.
        assert_eq!(n.next(NonceUnit::Millis), 1_616_492_376_595);
        assert_eq!(n.next(NonceUnit::Millis), 1_616_492_376_596);
        // Time moves past: back to the time.
        host.advance(Duration::from_millis(100));
        assert_eq!(n.next(NonceUnit::Millis), 1_616_492_376_694);
        // Time goes backwards: still increasing.
        host.set_system_time(from_unix_ms(1_616_492_366_694));
        assert_eq!(n.next(NonceUnit::Millis), 1_616_492_376_695);
        assert_eq!(n.last(), 1_616_492_376_695);
    }

    #[test]
    fn micros_unit() {
        let n = Nonces::with_time_source(manual(1_000));
        assert_eq!(n.next(NonceUnit::Micros), 1_000_000);
        assert_eq!(n.next(NonceUnit::Micros), 1_000_001);
        let before_epoch = Nonces::with_time_source(manual(-5));
        assert_eq!(before_epoch.next(NonceUnit::Micros), 1);
    }

    #[test]
    fn unique_and_monotonic_across_threads() {
        const THREADS: usize = 8;
        const CALLS: usize = 20_000;
        let nonces = Arc::new(Nonces::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let n = Arc::clone(&nonces);
                std::thread::spawn(move || {
                    let unit = if i % 2 == 0 {
                        NonceUnit::Millis
                    } else {
                        NonceUnit::Micros
                    };
                    let mut seen = Vec::with_capacity(CALLS);
                    for _ in 0..CALLS {
                        seen.push(n.next(unit));
                    }
                    seen
                })
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            let seen = h.join().expect("thread");
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "per-thread monotonic");
            for v in seen {
                assert!(all.insert(v), "nonce {v} reused");
            }
        }
        assert_eq!(all.len(), THREADS * CALLS);
        assert_eq!(nonces.last(), all.iter().copied().max().unwrap_or(0));
    }

    #[test]
    fn saturates_at_the_top() {
        let n = Nonces::with_time_source(manual(0));
        assert_eq!(n.next_from(u64::MAX), u64::MAX);
        assert_eq!(n.next_from(5), u64::MAX);
    }
}
