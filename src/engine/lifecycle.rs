//! Starting a client: the first load and the background watch, done once — at `build()`, or
//! on first use of a lazily built client — and the watch started again in a forked child (see
//! [`crate::fork`]), on the child's first request.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::state::Engine;
use super::{clock_sync, driver, load};
use crate::error::Result;

/// Whether the first credential is in (one atomic load).
#[inline]
pub(super) fn is_started(engine: &Engine) -> bool {
    engine.started.initialized()
}

/// Whether the first credential is in and the watch runs in this process (two atomic
/// loads, no system call): the request path's check.
#[inline]
pub(super) fn is_ready_here(engine: &Engine) -> bool {
    engine.started.initialized()
        && engine.watch.generation.load(Ordering::Acquire) == crate::fork::generation()
}

/// Starts the driver of this process (the generation is read before the spawn, so a fork
/// noticed meanwhile starts it again), re-reading the source first when `reload_first`.
fn start_watch(engine: &Arc<Engine>, reload_first: bool) {
    let mut task = engine.watch.task.lock().unwrap_or_else(|p| p.into_inner());
    let generation = crate::fork::check();
    if engine.watch.generation.load(Ordering::Acquire) == generation {
        return;
    }
    if let Some(stale) = task.take() {
        std::mem::forget(stale);
    }
    *task = driver::spawn(engine, reload_first);
    if let Some(tls) = &engine.tls {
        if reload_first {
            // A forked child: new connections, never the parent's.
            tls.after_fork();
        }
        crate::tls::spawn_watch(tls);
    }
    engine.watch.generation.store(generation, Ordering::Release);
}

/// Loads the first credential and starts watching the source, if that has not happened yet;
/// fails, naming the source and the cause, when no valid credential can be loaded (then the
/// next call tries again). Concurrent callers share one load. In a forked child it starts the
/// watch again (the parent's is not there).
pub(super) async fn start(engine: &Arc<Engine>) -> Result<()> {
    engine
        .started
        .get_or_try_init(|| async {
            let first = load::load_valid(engine, None)
                .await
                .inspect_err(|err| load::load_failed(engine, err))?;
            tracing::info!(source = %engine.source_name, version = %first.version(), "credential loaded");
            if let Some(tls) = &engine.tls {
                tls.start().await?;
            }
            engine.store.initialize(first);
            load::load_succeeded(engine);
            engine.metrics.started();
            if let Some(base) = &engine.base_url {
                // Through the client's own transport: no request (and no skin's) is here yet.
                match &engine.tls {
                    Some(tls) => clock_sync::learn_at_start(engine, &**tls, base).await,
                    None => clock_sync::learn_at_start(engine, &engine.http, base).await,
                }
            }
            start_watch(engine, false);
            Ok::<(), crate::Error>(())
        })
        .await?;
    // A forked child: the parent's watch is not here. The new one re-reads the source at once
    // (a rotation may have happened since the fork) while this request goes on.
    if !is_ready_here(engine) {
        tracing::debug!(source = %engine.source_name, "new process: restarting the watch");
        start_watch(engine, true);
    }
    Ok(())
}
