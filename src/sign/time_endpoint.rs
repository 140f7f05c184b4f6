//! [`TimeEndpoint`]: where an exchange says what time it is, and how to read it.

use super::util;

/// The unit of a server-time value in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeUnit {
    /// Seconds since the UNIX epoch.
    Seconds,
    /// Milliseconds since the UNIX epoch.
    Millis,
    /// Microseconds since the UNIX epoch.
    Micros,
    /// Nanoseconds since the UNIX epoch.
    Nanos,
}

/// An exchange's server-time endpoint: a `GET` of [`path`](TimeEndpoint::path), whose JSON body
/// holds the server time at [`pointer`](TimeEndpoint::pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEndpoint {
    /// The path (relative to the exchange's base URL), fetched with `GET` and no credential.
    pub path: &'static str,
    /// Where the time is in the JSON body: an RFC 6901 JSON pointer (`"/serverTime"`,
    /// `"/data/0/ts"`). The value may be a JSON number or a string holding a number.
    pub pointer: &'static str,
    /// The unit of the value.
    pub unit: TimeUnit,
}

impl TimeEndpoint {
    /// Reads the server time (UNIX milliseconds) from a response body; `None` when the body is
    /// not JSON or the value is missing or not a number. Out-of-range values saturate.
    pub fn parse(&self, body: &[u8]) -> Option<i64> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        match util::json_number(value.pointer(self.pointer)?)? {
            util::Num::Int(raw) => {
                let ms = match self.unit {
                    TimeUnit::Seconds => raw.saturating_mul(1_000),
                    TimeUnit::Millis => raw,
                    TimeUnit::Micros => raw.div_euclid(1_000),
                    TimeUnit::Nanos => raw.div_euclid(1_000_000),
                };
                Some(util::clamp_i64(ms))
            }
            util::Num::Float(raw) => {
                let ms = match self.unit {
                    TimeUnit::Seconds => raw * 1_000.0,
                    TimeUnit::Millis => raw,
                    TimeUnit::Micros => raw / 1_000.0,
                    TimeUnit::Nanos => raw / 1_000_000.0,
                };
                if ms.is_nan() {
                    return None;
                }
                // `as` saturates for floats (infinities included).
                Some(ms.floor() as i64)
            }
        }
    }
}
