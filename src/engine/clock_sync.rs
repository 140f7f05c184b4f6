//! The server-time offset of a signing client: learned from the exchange's time endpoint
//! when the client starts (or, without a base URL, from the origin of the first request),
//! kept up to date from `Date` headers, and re-learned when the exchange rejects a timestamp.

use std::time::Duration;

use reqwest::header::DATE;
use reqwest::{Response, Url};

use super::state::Engine;
use crate::response::{MAX_CLASSIFIED_BODY, buffered};
use crate::transport::Transport;

/// The bound on one request to a time endpoint.
const TIME_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Learns the offset from the signer's time endpoint at the origin of `at` (any URL of the
/// exchange); failures are logged and leave the clock as it is (the `Date` headers and a
/// timestamp rejection still correct it). Returns whether a sample was taken.
async fn learn_clock<T: Transport>(engine: &Engine, transport: &T, at: &Url, reset: bool) -> bool {
    let Some(endpoint) = engine.auth.as_signer().and_then(|s| s.time_endpoint()) else {
        return false;
    };
    let mut origin = at.clone();
    origin.set_path("/");
    origin.set_query(None);
    let Ok(url) = origin.join(endpoint.path) else {
        return false;
    };
    let sent = engine.signing.host.system_time();
    // Through the request's own transport (a middleware chain, a tower stack, the identity's
    // connections), as every request of the client.
    let Ok(request) = engine.http.get(url).timeout(TIME_REQUEST_TIMEOUT).build() else {
        return false;
    };
    let resp = match transport.send(request).await {
        Ok(resp) if resp.status().is_success() => resp,
        Ok(resp) => {
            tracing::warn!(
                status = resp.status().as_u16(),
                "server time endpoint refused; clock offset unchanged"
            );
            return false;
        }
        Err(err) => {
            tracing::warn!(error = %err, "server time endpoint unreachable; clock offset unchanged");
            return false;
        }
    };
    let (_, body) = buffered(resp, MAX_CLASSIFIED_BODY).await;
    let received = engine.signing.host.system_time();
    let Some(server_ms) = body.as_deref().and_then(|b| endpoint.parse(b)) else {
        tracing::warn!(
            "server time endpoint answered without a readable time; clock offset unchanged"
        );
        return false;
    };
    let offset = if reset {
        engine.signing.clock.reset_to(server_ms, sent, received)
    } else {
        engine
            .signing
            .clock
            .record_sample(server_ms, sent, received)
    };
    tracing::info!(offset_ms = offset, "server clock offset learned");
    true
}

/// At start, with a base URL: a signing client that syncs its clock learns it before the
/// first request.
pub(super) async fn learn_at_start<T: Transport>(engine: &Engine, transport: &T, base: &Url) {
    if engine.signing.sync && engine.auth.as_signer().is_some() {
        learn_clock(engine, transport, base, false).await;
        let _ = engine.signing.learned.set(());
    }
}

/// Whether `clock_ready` has work to do (a signing client that syncs
/// its clock and has not learned it yet): checked without creating its future.
#[inline]
pub(super) fn clock_pending(engine: &Engine) -> bool {
    engine.classifier.signer.is_some()
        && engine.signing.sync
        && !engine.signing.learned.initialized()
}

/// Before the first signed request without a base URL: learn the clock from its origin,
/// once (concurrent first requests wait for the same lookup).
pub(super) async fn clock_ready<T: Transport>(engine: &Engine, transport: &T, url: &Url) {
    if !clock_pending(engine) {
        return;
    }
    engine
        .signing
        .learned
        .get_or_init(|| async {
            learn_clock(engine, transport, url, false).await;
        })
        .await;
}

/// After a timestamp rejection: the time endpoint of the request's origin, else the
/// response's `Date`.
pub(super) async fn relearn_clock<T: Transport>(engine: &Engine, transport: &T, resp: &Response) {
    if !learn_clock(engine, transport, resp.url(), true).await {
        if let Some(date) = resp.headers().get(DATE) {
            let now = engine.signing.host.system_time();
            engine.signing.clock.record_date_header(date, now, now);
        }
    }
}
