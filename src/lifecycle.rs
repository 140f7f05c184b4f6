//! Starting a client: the first load and the background watch, done once — at `build()`, or
//! on first use of a lazily built client — and the watch started again in a forked child (see
//! [`crate::fork`]), on the child's first request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::client::{Client, Shared};
use crate::error::Result;

impl Client {
    /// Loads the first credential and starts watching the source, if that has not happened
    /// yet; fails, naming the source and the cause, when no valid credential can be loaded
    /// (then the next call tries again). [`ClientBuilder::build`](crate::ClientBuilder::build)
    /// awaits it; a client from [`build_lazy`](crate::ClientBuilder::build_lazy) runs it on
    /// first use, or when you call it (the fail-fast check). Concurrent callers share one load.
    /// In a forked child it starts the client's watch again (the parent's is not there).
    pub async fn ready(&self) -> Result<()> {
        start(&self.shared).await
    }
}

/// A client's background watch (the driver task) and the process generation it runs in.
#[derive(Default)]
pub(crate) struct Watch {
    /// [`crate::fork::generation`] when the driver was started (0: not yet).
    generation: AtomicU64,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Watch {
    /// Stops the driver (the client is gone).
    pub(crate) fn stop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = task.take() {
            if self.generation.load(Ordering::Relaxed) == crate::fork::generation() {
                handle.abort();
            } else {
                // A task of the parent's runtime: nothing runs it here, and aborting it would
                // wake the parent's runtime through a file descriptor both processes share.
                std::mem::forget(handle);
            }
        }
    }
}

impl Shared {
    /// Whether the first credential is in (one atomic load).
    #[inline]
    pub(crate) fn is_started(&self) -> bool {
        self.started.initialized()
    }

    /// Whether the first credential is in and the watch runs in this process (two atomic
    /// loads, no system call): the request path's check.
    #[inline]
    pub(crate) fn is_ready_here(&self) -> bool {
        self.started.initialized()
            && self.watch.generation.load(Ordering::Acquire) == crate::fork::generation()
    }

    /// Starts the driver of this process (the generation is read before the spawn, so a fork
    /// noticed meanwhile starts it again), re-reading the source first when `reload_first`.
    fn start_watch(self: &Arc<Self>, reload_first: bool) {
        let mut task = self.watch.task.lock().unwrap_or_else(|p| p.into_inner());
        let generation = crate::fork::check();
        if self.watch.generation.load(Ordering::Acquire) == generation {
            return;
        }
        if let Some(stale) = task.take() {
            std::mem::forget(stale);
        }
        *task = crate::driver::spawn(self, reload_first);
        if let Some(tls) = &self.tls {
            if reload_first {
                // A forked child: new connections, never the parent's.
                tls.after_fork();
            }
            crate::tls::spawn_watch(tls);
        }
        self.watch.generation.store(generation, Ordering::Release);
    }
}

async fn start(shared: &Arc<Shared>) -> Result<()> {
    shared
        .started
        .get_or_try_init(|| async {
            let first = shared
                .load_valid(None)
                .await
                .inspect_err(|err| shared.load_failed(err))?;
            tracing::info!(source = %shared.source_name, version = %first.version(), "credential loaded");
            if let Some(tls) = &shared.tls {
                tls.start().await?;
            }
            shared.store.initialize(first);
            shared.load_succeeded();
            shared.metrics.started();
            if shared.sync_clock && shared.auth.as_signer().is_some() {
                if let Some(base) = &shared.base_url {
                    shared.learn_clock(base, false).await;
                    let _ = shared.clock_learned.set(());
                }
            }
            shared.start_watch(false);
            Ok::<(), crate::Error>(())
        })
        .await?;
    // A forked child: the parent's watch is not here. The new one re-reads the source at once
    // (a rotation may have happened since the fork) while this request goes on.
    if !shared.is_ready_here() {
        tracing::debug!(source = %shared.source_name, "new process: restarting the watch");
        shared.start_watch(true);
    }
    Ok(())
}
