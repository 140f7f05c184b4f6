//! Jitter for periodic work, so a fleet of clients does not act in lockstep.

use std::time::Duration;

/// `interval` ±20 %, so a fleet of clients does not poll in lockstep. Saturating: an
/// interval too large to scale stays as it is.
pub(crate) fn jittered(interval: Duration) -> Duration {
    let factor = 0.8 + 0.4 * fastrand::f64();
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(interval)
}
