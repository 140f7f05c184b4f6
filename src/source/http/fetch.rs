//! One fetch in flight per source, the reuse window, the poll ticker, and the limits every
//! endpoint request obeys (TLS, timeout, body cap, `Retry-After`).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::credential::Credential;
use crate::error::{Error, Result, redact_reqwest};
use crate::scope::is_loopback;
use crate::single_flight::{Flight, SingleFlight};
use crate::source::change_signal::{ChangeNotifier, Changes};
use crate::time::{AsyncSleep, TokioSleep};

/// The longest `Retry-After` honoured; a longer one is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A failed fetch, as remembered for the reuse window.
#[derive(Clone)]
pub(crate) struct Failure {
    why: String,
    retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        Failure {
            why: why.into(),
            retry_after: None,
        }
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn why(&self) -> &str {
        &self.why
    }

    fn into_error(self, name: &str) -> Error {
        let err = Error::source(name, self.why);
        match self.retry_after {
            Some(after) => err.with_retry_after(after),
            None => err,
        }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::new(why)
    }
}

/// What one request to the endpoint produced.
pub(crate) enum Fetched {
    /// A credential, and the response's `ETag` if it had one.
    Fresh(Credential, Option<HeaderValue>),
    /// 304: the credential of the cached `ETag` is still current.
    NotModified,
}

#[derive(Default)]
struct FetchState {
    /// The `ETag` of the last 200, with the credential it produced.
    cached: Option<(HeaderValue, Credential)>,
    /// No request before this instant (a `Retry-After`).
    not_before: Option<Instant>,
}

/// One fetch in flight per source, outcomes reused for a short window, the conditional-request
/// cache, the `Retry-After` gate and the per-source poll ticker.
pub(crate) struct Fetcher {
    flight: SingleFlight<std::result::Result<Credential, Failure>>,
    /// Shared with the poll ticker, which stays quiet while a `Retry-After` pause is on.
    state: Arc<Mutex<FetchState>>,
    /// This process's ticker, by generation (a forked child starts its own).
    ticker: Mutex<(u64, Weak<Ticker>)>,
    pub(super) reuse_window: Duration,
    /// How the poll ticker waits (the source's `sleep_impl`; tokio's by default).
    pub(super) sleep: Arc<dyn AsyncSleep>,
}

impl Fetcher {
    pub(crate) fn new(reuse_window: Duration) -> Self {
        Fetcher {
            flight: SingleFlight::new(crate::time::Time::default()),
            state: Default::default(),
            ticker: Mutex::new((0, Weak::new())),
            reuse_window,
            sleep: Arc::new(TokioSleep),
        }
    }

    /// The HTTP client for fetches: redirects off (a token header must not follow a redirect
    /// anywhere), built once per source.
    pub(crate) fn client(
        &self,
        custom: Option<&reqwest::Client>,
    ) -> std::result::Result<reqwest::Client, Failure> {
        if let Some(client) = custom {
            return Ok(client.clone());
        }
        crate::http_client::shared_default().map_err(Failure::new)
    }

    /// Loads through the gate: reuse a recent successful fetch, respect `Retry-After`, else run
    /// `fetch` (given the cached `ETag`) while later callers queue for its outcome. With
    /// `since` (a load for a request the server rejected), only a fetch that began at or after
    /// it may be reused. A failed fetch is never reused.
    pub(crate) async fn load<F, Fut>(
        &self,
        name: &str,
        since: Option<Instant>,
        fetch: F,
    ) -> Result<Credential>
    where
        F: FnOnce(Option<HeaderValue>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Fetched, Failure>>,
    {
        let reuse = |f: &Flight<std::result::Result<Credential, Failure>>| {
            f.value.is_ok()
                && f.finished.elapsed() < self.reuse_window
                && since.is_none_or(|since| f.started >= since)
        };
        self.flight
            .run(since, reuse, |_| self.fetch_gated(fetch))
            .await
            .map_err(|f| f.into_error(name))
    }

    async fn fetch_gated<F, Fut>(&self, fetch: F) -> std::result::Result<Credential, Failure>
    where
        F: FnOnce(Option<HeaderValue>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Fetched, Failure>>,
    {
        let etag = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(left) = state
                .not_before
                .and_then(|at| at.checked_duration_since(Instant::now()))
            {
                return Err(Failure {
                    why: format!(
                        "the endpoint asked to retry later; not asking again for {}s",
                        left.as_secs_f64().ceil()
                    ),
                    retry_after: Some(left),
                });
            }
            state.cached.as_ref().map(|(etag, _)| etag.clone())
        };
        let fetched = fetch(etag).await;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match fetched {
            Ok(Fetched::Fresh(cred, etag)) => {
                state.cached = etag.map(|etag| (etag, cred.clone()));
                Ok(cred)
            }
            Ok(Fetched::NotModified) => match &state.cached {
                Some((_, cred)) => Ok(cred.clone()),
                None => Err(Failure::new(
                    "304 Not Modified to a request that was not conditional",
                )),
            },
            Err(failure) => {
                if let Some(after) = failure.retry_after {
                    state.not_before = Some(crate::time::after(after));
                }
                Err(failure)
            }
        }
    }

    /// A change signal that fires every `interval` (±20 %), shared by every client of this
    /// source in the process: they wake together and their loads share one fetch.
    pub(crate) fn ticker(&self, interval: Duration) -> Option<Changes> {
        let generation = crate::fork::check();
        let mut slot = self.ticker.lock().unwrap_or_else(|p| p.into_inner());
        let existing = (slot.0 == generation).then(|| slot.1.upgrade()).flatten();
        let ticker = match existing {
            Some(existing) => existing,
            None => {
                let (notifier, _unused) = crate::source::change_signal::changes();
                let tick = notifier.clone();
                let state = Arc::downgrade(&self.state);
                let sleep = Arc::clone(&self.sleep);
                // On keyswap's background runtime: it outlives the runtime of whichever client
                // asked first, which the other clients of this source rely on.
                let task = crate::background::spawn(async move {
                    loop {
                        sleep.sleep(crate::jitter::jittered(interval)).await;
                        // During a `Retry-After` pause a tick would only make every client
                        // load, be refused by the gate and count a source error: tick when it
                        // is over instead.
                        let Some(state) = state.upgrade() else {
                            return;
                        };
                        let pause = state
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .not_before
                            .and_then(|at| at.checked_duration_since(Instant::now()));
                        drop(state);
                        if let Some(pause) = pause {
                            sleep.sleep(pause).await;
                        }
                        tick.notify();
                    }
                })?;
                let started = Arc::new(Ticker { notifier, task });
                *slot = (generation, Arc::downgrade(&started));
                started
            }
        };
        Some(Changes {
            rx: ticker.notifier.tx.subscribe(),
            debounce: Duration::ZERO,
            _keep_alive: Some(ticker),
        })
    }
}

struct Ticker {
    notifier: ChangeNotifier,
    task: tokio::task::AbortHandle,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// TLS, except to loopback (a local agent, a test server).
pub(crate) fn check_transport(url: &Url) -> std::result::Result<(), Failure> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Failure::new(format!(
            "refusing plain http to {}: use https (plain http is allowed to loopback only)",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(Failure::new(format!("unsupported URL scheme {other:?}"))),
    }
}

/// Reads the body, counting bytes as they arrive: `Content-Length` is not trusted.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> std::result::Result<Vec<u8>, Failure> {
    let too_big = || Failure::new(format!("response body is larger than {cap} bytes"));
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest)? {
        if body.len() + chunk.len() > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error as a failure: its URL without query, no header values (reqwest's messages
/// never contain them).
pub(crate) fn describe_reqwest(err: reqwest::Error) -> Failure {
    let what = if err.is_timeout() {
        "request timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let err = redact_reqwest(err);
    let mut why = format!("{what}: {err}");
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        why.push_str(": ");
        why.push_str(&c.to_string());
        cause = c.source();
    }
    Failure::new(why)
}

/// The failure for a non-success status, with `Retry-After` read on 429 and 503.
pub(crate) fn status_failure(resp: &reqwest::Response) -> Failure {
    let status = resp.status();
    let mut failure = Failure::new(format!("endpoint answered {status}"));
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        failure.retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
            .map(|d| d.min(MAX_RETRY_AFTER));
        if let Some(after) = failure.retry_after {
            failure
                .why
                .push_str(&format!(" (Retry-After: {}s)", after.as_secs()));
        }
    } else if status.is_redirection() {
        failure
            .why
            .push_str(" (redirects are not followed: point the source at the final URL)");
    }
    failure
}

/// `Retry-After`: delta-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT" -> "1994-11-06T08:49:37Z"
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let rfc3339 = format!("{year}-{month:02}-{day:0>2}T{time}Z");
    let at = humantime::parse_rfc3339(&rfc3339).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").unwrap();
        assert!(later > Duration::from_secs(3600 * 24 * 365));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://vault.example",
            "http://127.0.0.1:8200",
            "http://127.8.0.1",
            "http://[::1]:1",
            "http://localhost:2773",
        ] {
            assert!(check_transport(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["http://vault.example", "http://10.0.0.1", "ftp://localhost"] {
            assert!(check_transport(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}

/// Property tests: `Retry-After` is whatever a server (or something pretending to be one)
/// sends. `parse_retry_after` never panics and returns delta-seconds as given (up to
/// `u64::MAX` s) or the time left until an HTTP date (bounded by 9999-12-31); the failure the
/// source reports caps it at `MAX_RETRY_AFTER`, so the gate never sleeps past an hour and
/// `Instant + retry_after` cannot overflow.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The latest instant an IMF-fixdate can name, as seconds since the epoch.
    const LATEST_DATE_SECS: u64 = 253_402_300_799;

    fn arb_http_date() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["Sun,", "Mon,", "x", ",", "Sunday,"]),
            "[0-9]{0,3}",
            prop::sample::select(vec!["Jan", "Feb", "Nov", "Dec", "jan", "Foo", ""]),
            prop_oneof!["[0-9]{1,6}", "-[0-9]{1,4}", "\\+[0-9]{4,6}"],
            "[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,9})?",
            prop::sample::select(vec!["GMT", "UTC", "gmt", "GMT GMT"]),
            "[ \t]{1,3}",
        )
            .prop_map(|(dow, day, mon, year, time, zone, sp)| {
                [dow, &day, mon, &year, &time, zone].join(&sp)
            })
    }

    fn arb_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9]{15,40}",
            "[ \t]*-?[0-9]{1,5}(\\.[0-9]{0,3})?[ \t]*",
            arb_http_date(),
            (0u64..=LATEST_DATE_SECS).prop_map(|secs| {
                humantime::format_rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                    .to_string()
            }),
        ]
    }

    fn response(status: u16, retry_after: &str) -> Option<reqwest::Response> {
        let value = HeaderValue::from_str(retry_after).ok()?;
        let resp = http::Response::builder()
            .status(status)
            .header(RETRY_AFTER, value)
            .body(Vec::<u8>::new())
            .ok()?;
        Some(reqwest::Response::from(resp))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn retry_after_never_panics_and_is_bounded(value in arb_value()) {
            let latest = (SystemTime::UNIX_EPOCH + Duration::from_secs(LATEST_DATE_SECS + 1))
                .duration_since(SystemTime::now())
                .unwrap();
            match parse_retry_after(&value) {
                None => {}
                Some(after) => match value.trim().parse::<u64>() {
                    Ok(secs) => prop_assert_eq!(after, Duration::from_secs(secs)),
                    Err(_) => prop_assert!(after <= latest, "{value:?} -> {after:?}"),
                },
            }
        }

        #[test]
        fn delta_seconds_are_exact(secs in any::<u64>(), pad in "[ \t]{0,3}") {
            prop_assert_eq!(
                parse_retry_after(&format!("{pad}{secs}{pad}")),
                Some(Duration::from_secs(secs))
            );
        }

        /// A date in the future is the time left until it (within the test's own slack).
        #[test]
        fn http_dates_are_time_left(ahead in 0u64..100_000_000) {
            let now = SystemTime::now();
            let at = now + Duration::from_secs(ahead + 2);
            let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let rfc = humantime::format_rfc3339(at).to_string(); // 2026-03-01T10:00:00Z
            let (date, time) = rfc.trim_end_matches('Z').split_once('T').unwrap();
            let (year, rest) = date.split_once('-').unwrap();
            let (month, day) = rest.split_once('-').unwrap();
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let imf = format!(
                "Thu, {day} {} {year} {time} GMT",
                months[month.parse::<usize>().unwrap() - 1]
            );
            let left = parse_retry_after(&imf).unwrap();
            let expected = at.duration_since(now).unwrap();
            prop_assert!(left <= expected && expected - left < Duration::from_secs(2), "{imf}: {left:?} vs {expected:?}");
        }

        /// What the endpoint source keeps, and its message, whatever the header says.
        #[test]
        fn status_failure_caps_retry_after(
            status in prop::sample::select(vec![429u16, 503, 500, 302]),
            value in arb_value(),
        ) {
            if let Some(resp) = response(status, &value) {
                let failure = status_failure(&resp);
                let expected = format!("endpoint answered {status}");
                prop_assert!(failure.why.starts_with(&expected), "{}", failure.why);
                if let Some(after) = failure.retry_after {
                    prop_assert!(status == 429 || status == 503);
                    prop_assert!(after <= MAX_RETRY_AFTER);
                    // The gate adds it to an Instant: never an overflow.
                    let _ = crate::time::after(after);
                }
            }
        }
    }

    /// `u64::MAX` seconds is returned as is; only the cap makes it usable.
    #[test]
    fn the_largest_delta_is_capped_by_the_failure() {
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("18446744073709551616"), None);
        let resp = response(429, "18446744073709551615").unwrap();
        assert_eq!(status_failure(&resp).retry_after, Some(MAX_RETRY_AFTER));
        assert!(status_failure(&resp).why.ends_with("(Retry-After: 3600s)"));
    }
}
