//! The recover path of a refused client certificate: a TLS alert on the handshake (or on the
//! first read, with TLS 1.3), or a 401/403 from a server that checks the certificate after the
//! handshake. As for a rejected key: one refresh for all callers, one retry on a new
//! connection, a bounded wait when the source has nothing newer yet, then the refusal stands,
//! with an error naming the cause. Other transport errors are never retried.

use reqwest::{Request, Response};

use super::classify::Attempt;
use super::refresh::Failed;
use super::state::Engine;
use super::{recover, retry};
use crate::error::{Error, Result};
use crate::tls::{Refusal, Refused, SentOn, Tls, refusal, refusal_name};
use crate::transport::Transport;

/// After the transport failed with `err`: when it is a certificate refusal on a replayable
/// request, refresh the identity and retry; otherwise `err` as it is.
pub(super) async fn recover_refused<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: Option<Request>,
    err: Error,
) -> Result<(Response, Option<Request>)> {
    let (Some(tls), Some(refused)) = (engine.tls.as_ref(), refusal(&err)) else {
        return Err(err);
    };
    let Some(template) = template else {
        return Err(err);
    };
    let alert = refused.alert;
    tls.rejections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(refusal = %refusal_name(alert), "client certificate refused; refreshing it");
    let Some((generation, _changed)) = tls
        .refresh_after_refusal(refused.generation, &refused.version, refused.at)
        .await
    else {
        return Err(err);
    };
    let err = match retry_identity(engine, transport, &template, now(engine)).await {
        Ok(resp) => return Ok((resp, Some(template))),
        Err(e) if refusal(&e).is_some() => e,
        Err(e) => return Err(e),
    };
    // Refused again with what the source holds: the server revoked it before the new
    // certificate reached the source. Wait, bounded, for one.
    let refused_version = generation.identity.version.clone();
    if tls
        .await_identity(&refused_version, tls.await_rotation)
        .await
        .is_some()
    {
        match retry_identity(engine, transport, &template, now(engine)).await {
            Ok(resp) => return Ok((resp, Some(template))),
            Err(e) if refusal(&e).is_some() => {
                return Err(refused_for_good(tls, &e, "the newer one was refused too"));
            }
            Err(e) => return Err(e),
        }
    }
    Err(refused_for_good(
        tls,
        &err,
        &format!(
            "the source had no other certificate within {:?}",
            tls.await_rotation
        ),
    ))
}

/// A failure stamped now: the retry after a refused handshake has no earlier answer to share
/// a refresh with.
fn now(engine: &Engine) -> Failed {
    let now = engine.time.now();
    Failed { sent: now, at: now }
}

/// A retry of `template` with the current key, on the current generation (a new
/// connection); a 401/403 goes down the key's recover path, answering `failed`.
async fn retry_identity<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: &Request,
    failed: Failed,
) -> Result<Response> {
    let cred = engine.store.current();
    match retry::retry(engine, transport, template, &cred).await? {
        Attempt::Accepted(resp) | Attempt::Resign(_, resp) => Ok(resp),
        Attempt::Rejected(resp) => {
            recover::recover(
                engine,
                transport,
                template,
                cred.fingerprint(),
                failed,
                resp,
            )
            .await
        }
    }
}

/// The error after the recover path gave up: names the certificate's version, the source
/// and why it gave up; its cause says how the server refused (the alert).
fn refused_for_good(tls: &Tls, last: &Error, why: &str) -> Error {
    let how = refusal(last).map_or(
        Refusal::Alert(rustls::AlertDescription::BadCertificate),
        |r| r.alert,
    );
    Refused {
        generation: 0,
        version: tls.version(),
        at: std::time::Instant::now(),
        alert: how,
        source: Box::new(std::io::Error::other(refusal_name(how))),
    }
    .into_error(format!(
        "client certificate {} from {} refused ({}); {why}",
        tls.version(),
        tls.source_name,
        refusal_name(how)
    ))
}

/// After a 401/403 on an mTLS client (`resp`, sent with key `sent_with`): a server that
/// checks the certificate after the handshake refused the identity, or the key. The
/// identity is refreshed first (one load for all callers; the refused connection's pool is
/// retired either way); a new identity is retried with the same key. With no new identity,
/// the key's recover path decides — or, on a client without a key, a bounded wait for a
/// new certificate.
pub(super) async fn recover_rejected_identity<T: Transport>(
    engine: &Engine,
    transport: &T,
    template: &Request,
    sent_with: u64,
    failed: Failed,
    resp: Response,
) -> Result<Response> {
    let (Some(tls), Some(sent_on)) = (
        engine.tls.as_ref(),
        resp.extensions().get::<SentOn>().cloned(),
    ) else {
        return recover::recover(engine, transport, template, sent_with, failed, resp).await;
    };
    // At once, before any wait: the refused connection must not carry another request.
    tls.retire(sent_on.generation);
    tls.rejections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some((current, changed)) = tls
        .refresh_after_refusal(
            sent_on.generation,
            &sent_on.identity.version,
            std::time::Instant::now(),
        )
        .await
    else {
        return recover::recover(engine, transport, template, sent_with, failed, resp).await;
    };
    if changed {
        return retry_identity(engine, transport, template, failed).await;
    }
    let version = current.identity.version.clone();
    if !tls.identity_only {
        // A key and an identity: either may be the one refused. The key's recover path
        // runs, and a new identity arriving meanwhile ends it: the request is retried
        // with it at once.
        let key_path = recover::recover(engine, transport, template, sent_with, failed, resp);
        let identity_path = tls.await_identity(&version, tls.await_rotation);
        tokio::pin!(key_path, identity_path);
        tokio::select! {
            answer = &mut key_path => return answer,
            Some(_) = &mut identity_path => {}
        }
    } else if tls
        .await_identity(&version, tls.await_rotation)
        .await
        .is_none()
    {
        return Ok(resp);
    } else {
        drop(resp);
    }
    let cred = engine.store.current();
    Ok(
        match retry::retry(engine, transport, template, &cred).await? {
            Attempt::Accepted(resp) | Attempt::Resign(_, resp) | Attempt::Rejected(resp) => resp,
        },
    )
}
