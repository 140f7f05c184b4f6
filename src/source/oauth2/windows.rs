//! When an access token is renewed: the advisory and mandatory windows before its expiry, and
//! the lifetimes accepted from a token endpoint.

use std::time::{Duration, SystemTime};

use crate::credential::RefreshWindows;

/// Default for [`OAuth2ClientCredentials::advisory_margin`](super::OAuth2ClientCredentials::advisory_margin).
pub(crate) const DEFAULT_ADVISORY_MARGIN: Duration = Duration::from_secs(300);
/// Default for [`OAuth2ClientCredentials::mandatory_margin`](super::OAuth2ClientCredentials::mandatory_margin).
pub(crate) const DEFAULT_MANDATORY_MARGIN: Duration = Duration::from_secs(60);
/// Default for [`OAuth2ClientCredentials::default_lifetime`](super::OAuth2ClientCredentials::default_lifetime):
/// the lifetime assumed when a token response has no `expires_in` (aws-smithy assumes the same).
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// The longest `expires_in` accepted (a year): anything longer is a broken server.
pub(crate) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A short token's margins are at most these fractions of its lifetime, so that a 2 s token is
/// renewed at 1.9 s rather than at once (and not at every request); a short token's renewal is
/// a few milliseconds of a local round trip, well inside 5 % of its life.
const ADVISORY_FRACTION: f64 = 0.05;
const MANDATORY_FRACTION: f64 = 0.025;

/// The expiry and windows of a token obtained by a request sent at `sent` (measured from the
/// request, not the answer: the server's clock started no earlier).
pub(crate) fn windows(
    sent: SystemTime,
    lifetime: Duration,
    advisory_margin: Duration,
    mandatory_margin: Duration,
) -> (SystemTime, RefreshWindows) {
    let advisory_lead = advisory_margin.min(lifetime.mul_f64(ADVISORY_FRACTION));
    let mandatory_lead = mandatory_margin
        .min(lifetime.mul_f64(MANDATORY_FRACTION))
        .min(advisory_lead);
    // `lifetime` is at most a year (checked when parsed): no overflow.
    let expires_at = sent.checked_add(lifetime).unwrap_or(sent);
    (
        expires_at,
        RefreshWindows {
            advisory: expires_at - advisory_lead,
            mandatory: expires_at - mandatory_lead,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tokens_use_the_margins_and_short_ones_a_fraction_of_their_lifetime() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (exp, w) = windows(
            t0,
            Duration::from_secs(7200),
            DEFAULT_ADVISORY_MARGIN,
            DEFAULT_MANDATORY_MARGIN,
        );
        assert_eq!(exp, t0 + Duration::from_secs(7200));
        assert_eq!(w.advisory, exp - Duration::from_secs(300));
        assert_eq!(w.mandatory, exp - Duration::from_secs(60));
        // An hour: 5 % (3 min) is less than the 5 min margin.
        let (exp, w) = windows(
            t0,
            Duration::from_secs(3600),
            DEFAULT_ADVISORY_MARGIN,
            DEFAULT_MANDATORY_MARGIN,
        );
        assert_eq!(w.advisory, exp - Duration::from_secs(180));
        assert_eq!(w.mandatory, exp - Duration::from_secs(60));

        let (exp, w) = windows(
            t0,
            Duration::from_secs(2),
            DEFAULT_ADVISORY_MARGIN,
            DEFAULT_MANDATORY_MARGIN,
        );
        assert_eq!(w.advisory, exp - Duration::from_millis(100));
        assert_eq!(w.mandatory, exp - Duration::from_millis(50));
    }

    #[test]
    fn the_mandatory_window_never_opens_before_the_advisory_one() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (_, w) = windows(
            t0,
            Duration::from_secs(3600),
            Duration::from_secs(10),
            Duration::from_secs(120),
        );
        assert!(w.mandatory >= w.advisory);
    }
}
