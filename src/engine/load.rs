//! Load: read the source once (bounded, a panic caught), validate what it gave, offer it to
//! the store, and report the outcome (counters, health, metrics, the log).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures_util::FutureExt;

use super::state::Engine;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::source::Source;
use crate::store::Offered;
use crate::time::Time;

/// Loads `source` once, bounded by `timeout` (on `time`), and validates what it produced. A
/// source that panics is caught and reported as a source error. `since` (on `time`): the load
/// must not be answered from a fetch that began earlier (see
/// [`CredentialSource::load_since`](crate::CredentialSource::load_since), which speaks the
/// process clock).
async fn load_source(
    source: &Source,
    name: &str,
    timeout: Duration,
    since: Option<Instant>,
    time: &Time,
) -> Result<Credential> {
    let load = match since {
        Some(since) => source.0.load_since(time.to_process(since)),
        None => source.0.load(),
    };
    let loaded = time
        .timeout(timeout, AssertUnwindSafe(load).catch_unwind())
        .await
        .map_err(|_| Error::source(name, format!("load timed out after {timeout:?}")))?
        .map_err(|_| Error::source(name, "the source panicked while loading").panicked())?;
    let cred = loaded?;
    cred.validate()
        .map_err(|why| Error::source(name, format!("credential rejected: {why}")))?;
    Ok(cred)
}

pub(super) async fn load_valid(engine: &Engine, since: Option<Instant>) -> Result<Credential> {
    load_source(
        &engine.source,
        &engine.source_name,
        engine.load_timeout,
        since,
        &engine.time,
    )
    .await
}

/// Offers a load's outcome to the store; a failure is counted and logged and changes nothing.
pub(super) fn accept(engine: &Engine, loaded: Result<Credential>) -> Result<Offered> {
    match loaded {
        Ok(cred) => {
            load_succeeded(engine);
            let offered = engine.store.offer(cred, &engine.counters);
            if offered == Offered::Rotated {
                engine.metrics.rotation();
            }
            Ok(offered)
        }
        Err(err) => {
            load_failed(engine, &err);
            tracing::warn!(source = %engine.source_name, error = %err, "keeping the last good credential");
            Err(err)
        }
    }
}

/// What every successful load reports (health, metrics).
pub(super) fn load_succeeded(engine: &Engine) {
    engine.health.succeeded(engine.time.system_time());
    engine.metrics.loaded();
}

/// What every failed load reports (counters, health, metrics).
pub(super) fn load_failed(engine: &Engine, err: &Error) {
    engine.counters.source_errors.inc();
    engine.metrics.source_error();
    engine.health.failed(err, engine.time.system_time());
    if err.is_panic() {
        engine.counters.background_failures.inc();
    }
}

/// The watch path's load. With `quick_retries`, a few quick retries, since a change event
/// can arrive while a writer is still busy (the stable-read check then reports "kept
/// changing" or an empty file); never when the source asked to be left alone
/// ([`Error::retry_after`]). Longer backoff is the driver's business.
pub(super) async fn reload_in_background(engine: &Engine, quick_retries: bool) -> Result<Offered> {
    let loaded = if quick_retries {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(20))
            .with_max_delay(Duration::from_millis(200))
            .with_max_times(3)
            .with_jitter();
        let time = engine.time.clone();
        (|| load_valid(engine, None))
            .retry(backoff)
            .sleep(move |d| time.sleep(d))
            .when(|e: &Error| e.retry_after().is_none())
            .await
    } else {
        load_valid(engine, None).await
    };
    accept(engine, loaded)
}
