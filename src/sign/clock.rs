//! [`Clock`]: the host clock corrected by a learned server-time offset.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::time::{SystemClock, TimeSource};

/// How many offset samples [`Clock`] keeps; its estimate is their median.
pub const DEFAULT_CLOCK_SAMPLES: usize = 9;

/// A Date header is a coarse sample (second resolution): it is only taken when it disagrees
/// with the current offset by more than this plus half the round trip.
const DATE_HEADER_TOLERANCE_MS: i64 = 1_000;

/// `SystemTime` as UNIX milliseconds (negative before 1970), saturating.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis())
            .map(|ms| -ms)
            .unwrap_or(i64::MIN),
    }
}

/// UNIX milliseconds as `SystemTime`; values the platform cannot represent saturate at the
/// epoch's side they are on, as far as representable.
pub(crate) fn from_unix_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    // Out of range for this platform: fall back to the farthest whole-year-ish bound that is.
    t.unwrap_or_else(|| {
        let fallback = Duration::from_secs(100 * 365 * 86_400 * 100);
        if ms >= 0 {
            UNIX_EPOCH.checked_add(fallback).unwrap_or(UNIX_EPOCH)
        } else {
            UNIX_EPOCH.checked_sub(fallback).unwrap_or(UNIX_EPOCH)
        }
    })
}

/// A client's server-time estimate: host time plus an offset learned from the exchange.
///
/// Each sample is `server_time − midpoint(sent, received)`; the offset is the median of the
/// last [`DEFAULT_CLOCK_SAMPLES`] samples, so one slow or lying response does not move it.
/// [`now_ms`](Clock::now_ms) is lock-free (the offset is an atomic); recording takes a small
/// mutex. All arithmetic saturates: an absurd server time cannot cause an overflow panic.
pub struct Clock {
    host: Arc<dyn TimeSource>,
    offset: AtomicI64,
    samples: Mutex<VecDeque<i64>>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("offset_ms", &self.offset_ms())
            .field("samples", &self.sample_count())
            .finish()
    }
}

impl Clock {
    /// A clock over the system time, with no offset yet.
    pub fn new() -> Self {
        Clock::with_time_source(SystemClock)
    }

    /// A clock over another host time: the wall-clock time of a
    /// [`TimeSource`] (a [`ManualTime`](crate::time::ManualTime) in tests).
    pub fn with_time_source(host: impl TimeSource) -> Self {
        Clock {
            host: Arc::new(host),
            offset: AtomicI64::new(0),
            samples: Mutex::new(VecDeque::with_capacity(DEFAULT_CLOCK_SAMPLES)),
        }
    }

    /// The host time, uncorrected, in UNIX milliseconds.
    pub fn host_ms(&self) -> i64 {
        unix_ms(self.host.system_time())
    }

    /// The estimated server time in UNIX milliseconds: host time plus offset.
    pub fn now_ms(&self) -> i64 {
        self.host_ms().saturating_add(self.offset_ms())
    }

    /// The estimated server time.
    pub fn now(&self) -> SystemTime {
        from_unix_ms(self.now_ms())
    }

    /// The current offset (server − host) in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    /// How many samples the estimate is based on.
    pub fn sample_count(&self) -> usize {
        self.lock().len()
    }

    /// Records a server-time sample: the server said `server_ms` in a response to a request
    /// sent at `sent` and received at `received` (host times). Returns the new offset.
    pub fn record_sample(&self, server_ms: i64, sent: SystemTime, received: SystemTime) -> i64 {
        let sample = sample(server_ms, sent, received);
        let mut samples = self.lock();
        if samples.len() >= DEFAULT_CLOCK_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
        let offset = median(&samples);
        self.offset.store(offset, Ordering::Release);
        offset
    }

    /// Forgets all samples and starts again from this one: the re-learn after the exchange
    /// rejected a timestamp. Returns the new offset.
    pub fn reset_to(&self, server_ms: i64, sent: SystemTime, received: SystemTime) -> i64 {
        let sample = sample(server_ms, sent, received);
        let mut samples = self.lock();
        samples.clear();
        samples.push_back(sample);
        self.offset.store(sample, Ordering::Release);
        sample
    }

    /// Takes an HTTP `Date` response header as a coarse sample. A `Date` has second
    /// resolution, so it is only recorded (as the middle of its second) when it disagrees
    /// with the current offset by more than one second plus half the round trip; then it is
    /// an ordinary sample, and enough of them move the median. Returns whether it was taken;
    /// an unparsable header is ignored.
    pub fn record_date_header(
        &self,
        date: &HeaderValue,
        sent: SystemTime,
        received: SystemTime,
    ) -> bool {
        let Some(server) = date
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
        else {
            return false;
        };
        let server_ms = unix_ms(server).saturating_add(500);
        let candidate = sample(server_ms, sent, received);
        let half_rtt = unix_ms(received).saturating_sub(unix_ms(sent)).max(0) / 2;
        let tolerance = DATE_HEADER_TOLERANCE_MS.saturating_add(half_rtt);
        if candidate.saturating_sub(self.offset_ms()).saturating_abs() <= tolerance {
            return false;
        }
        self.record_sample(server_ms, sent, received);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<i64>> {
        // The samples stay consistent even if a holder panicked: take them anyway.
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `server − midpoint(sent, received)`, saturating; a `received` before `sent` counts as equal.
fn sample(server_ms: i64, sent: SystemTime, received: SystemTime) -> i64 {
    let sent = i128::from(unix_ms(sent));
    let received = i128::from(unix_ms(received)).max(sent);
    let mid = sent + (received - sent) / 2;
    super::util::clamp_i64(i128::from(server_ms) - mid)
}

/// The median; for an even count the mean of the two middle values (rounded down).
fn median(samples: &VecDeque<i64>) -> i64 {
    let mut sorted: Vec<i64> = samples.iter().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => {
            let sum = i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2]);
            super::util::clamp_i64(sum.div_euclid(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::manual_at as manual;

    fn at(ms: i64) -> SystemTime {
        from_unix_ms(ms)
    }

    #[test]
    fn now_is_host_plus_offset_and_sample_uses_midpoint() {
        let host = manual(1_000_000);
        let clock = Clock::with_time_source(host.clone());
        assert_eq!(clock.now_ms(), 1_000_000);
        assert_eq!(clock.offset_ms(), 0);
        // Sent at 1000, received at 1100: midpoint 1050; server said 3050 → +2000.
        assert_eq!(clock.record_sample(3_050, at(1_000), at(1_100)), 2_000);
        assert_eq!(clock.offset_ms(), 2_000);
        assert_eq!(clock.now_ms(), 1_002_000);
        assert_eq!(clock.now(), at(1_002_000));
        host.advance(Duration::from_millis(5));
        assert_eq!(clock.now_ms(), 1_002_005);
    }

    #[test]
    fn estimate_is_the_median_of_the_last_samples() {
        let clock = Clock::with_time_source(manual(0));
        for s in [100, 110, 90, 5_000, 105] {
            clock.record_sample(s, at(0), at(0));
        }
        // Sorted 90 100 105 110 5000 → 105: the outlier does not move it.
        assert_eq!(clock.offset_ms(), 105);
        clock.record_sample(-7_000, at(0), at(0));
        // 6 samples: -7000 90 100 105 110 5000 → (100 + 105) / 2 = 102.
        assert_eq!(clock.offset_ms(), 102);
        // Only the last DEFAULT_CLOCK_SAMPLES count.
        for _ in 0..DEFAULT_CLOCK_SAMPLES {
            clock.record_sample(-50, at(0), at(0));
        }
        assert_eq!(clock.sample_count(), DEFAULT_CLOCK_SAMPLES);
        assert_eq!(clock.offset_ms(), -50);
    }

    #[test]
    fn reset_replaces_the_samples() {
        let clock = Clock::with_time_source(manual(0));
        for _ in 0..5 {
            clock.record_sample(10, at(0), at(0));
        }
        assert_eq!(clock.reset_to(60_000, at(1_000), at(1_000)), 59_000);
        assert_eq!(clock.sample_count(), 1);
        assert_eq!(clock.offset_ms(), 59_000);
        // The next sample is a median of two.
        assert_eq!(clock.record_sample(1_000, at(0), at(0)), 30_000);
    }

    #[test]
    fn absurd_times_saturate() {
        let host = manual(i64::MAX - 10);
        let clock = Clock::with_time_source(host.clone());
        clock.record_sample(i64::MAX, at(i64::MIN), at(i64::MIN));
        assert_eq!(clock.now_ms(), i64::MAX);
        clock.reset_to(i64::MIN, at(i64::MAX), at(i64::MAX));
        host.set_system_time(from_unix_ms(i64::MIN + 1));
        assert_eq!(clock.now_ms(), i64::MIN);
        let _ = clock.now();
        // Received before sent does not panic and counts as an instant round trip.
        let c2 = Clock::with_time_source(manual(0));
        assert_eq!(c2.record_sample(500, at(100), at(0)), 400);
        // The median of extreme values does not overflow.
        let c3 = Clock::with_time_source(manual(0));
        c3.record_sample(i64::MAX, at(i64::MIN), at(i64::MIN));
        c3.record_sample(i64::MAX, at(i64::MIN), at(i64::MIN));
        assert_eq!(c3.offset_ms(), i64::MAX);
    }

    #[test]
    fn date_header_is_a_coarse_sample() {
        // 2015-10-21T07:28:00Z = 1445412480000.
        let date = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        let host_ms = 1_445_412_480_000;
        let clock = Clock::with_time_source(manual(host_ms));
        // Host agrees to within the second: not taken.
        assert!(!clock.record_date_header(&date, at(host_ms), at(host_ms + 200)));
        assert_eq!(clock.sample_count(), 0);
        // Host is 5 s behind: taken as the middle of the second (+500 ms).
        let behind = host_ms - 5_000;
        assert!(clock.record_date_header(&date, at(behind), at(behind)));
        assert_eq!(clock.offset_ms(), 5_500);
        // Now it agrees: not taken again.
        assert!(!clock.record_date_header(&date, at(behind), at(behind)));
        assert_eq!(clock.sample_count(), 1);
        // Garbage is ignored.
        let bad = HeaderValue::from_static("yesterday");
        assert!(!clock.record_date_header(&bad, at(0), at(0)));
    }

    #[test]
    fn clock_is_shareable_across_threads() {
        let clock = Arc::new(Clock::with_time_source(manual(0)));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let c = Arc::clone(&clock);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        c.record_sample(1_000 + i, at(0), at(0));
                        let _ = c.now_ms();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert!((1_000..1_004).contains(&clock.offset_ms()));
    }

    #[test]
    fn system_clock_works() {
        let clock = Clock::new();
        let now = unix_ms(SystemTime::now());
        assert!((clock.now_ms() - now).abs() < 60_000);
        assert!(format!("{clock:?}").contains("offset_ms"));
    }
}
