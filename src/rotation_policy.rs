//! [`RotationPolicy`]: how a client behaves around a rotation — the fallback to the previous
//! credential, the propagation hold and its probes, and the bounded wait for a source that
//! has not delivered the new credential yet.

use std::time::Duration;

/// How a client rides out a rotation, given to
/// [`ClientBuilder::rotation_policy`](crate::ClientBuilder::rotation_policy). Each setter
/// documents its default; [`RotationPolicy::default`] is all of them.
///
/// ```
/// use std::time::Duration;
/// use keyswap::{Client, RotationPolicy, Source};
/// let builder = Client::builder().source(Source::env("API_KEY")).rotation_policy(
///     RotationPolicy::default()
///         .overlap_window(Duration::from_secs(60)) // the provider keeps old keys a minute
///         .await_rotation(Duration::from_secs(2)), // the secret store lags up to 2 s
/// );
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    pub(crate) overlap_window: Duration,
    pub(crate) propagation_hold: Duration,
    pub(crate) probe_interval: Duration,
    pub(crate) await_rotation: Duration,
}

impl RotationPolicy {
    /// Default of [`overlap_window`](Self::overlap_window): 30 s.
    pub const DEFAULT_OVERLAP_WINDOW: Duration = Duration::from_secs(30);
    /// Default of [`propagation_hold`](Self::propagation_hold): 30 s.
    pub const DEFAULT_PROPAGATION_HOLD: Duration = Duration::from_secs(30);
    /// Default of [`probe_interval`](Self::probe_interval): 200 ms.
    pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(200);
    /// Default of [`await_rotation`](Self::await_rotation): 1 s.
    pub const DEFAULT_AWAIT_ROTATION: Duration = Duration::from_secs(1);

    /// How long after a rotation the previous credential may be tried when the new one is
    /// rejected (a server still propagating the new key accepts the old). Zero turns the
    /// fallback off. Default: [`DEFAULT_OVERLAP_WINDOW`](Self::DEFAULT_OVERLAP_WINDOW) (30 s).
    pub fn overlap_window(mut self, window: Duration) -> Self {
        self.overlap_window = window;
        self
    }

    /// Rotation etiquette: when the new credential is rejected while the previous one is
    /// accepted (the server has not propagated the new key yet), requests stay on the previous
    /// one for up to this long, or until the overlap window ends, whichever is sooner; one
    /// request per [`probe_interval`](Self::probe_interval) tries the new one meanwhile, and
    /// the first it is accepted, every request switches to it. Without the hold every request
    /// would meet a rejection first, and exchanges and gateways count failed authentications.
    /// Zero turns the hold off. Default:
    /// [`DEFAULT_PROPAGATION_HOLD`](Self::DEFAULT_PROPAGATION_HOLD) (30 s).
    pub fn propagation_hold(mut self, hold: Duration) -> Self {
        self.propagation_hold = hold;
        self
    }

    /// During a propagation hold, how often one request tries the new credential. Default:
    /// [`DEFAULT_PROBE_INTERVAL`](Self::DEFAULT_PROBE_INTERVAL) (200 ms).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// How long requests wait for a new credential when a refresh returns the same one the
    /// server just rejected (revoked before the new key reached the source); the same bound
    /// applies to a refused client certificate. The wait is shared by concurrent requests and
    /// happens once per rejection; zero turns it off. Default:
    /// [`DEFAULT_AWAIT_ROTATION`](Self::DEFAULT_AWAIT_ROTATION) (1 s).
    pub fn await_rotation(mut self, wait: Duration) -> Self {
        self.await_rotation = wait;
        self
    }
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            overlap_window: Self::DEFAULT_OVERLAP_WINDOW,
            propagation_hold: Self::DEFAULT_PROPAGATION_HOLD,
            probe_interval: Self::DEFAULT_PROBE_INTERVAL,
            await_rotation: Self::DEFAULT_AWAIT_ROTATION,
        }
    }
}
