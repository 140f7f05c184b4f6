//! Starting a client: the first load and the background watch, done once — at `build()`, or
//! on first use of a lazily built client.

use std::sync::Arc;

use crate::client::{Client, Shared};
use crate::error::Result;

impl Client {
    /// Loads the first credential and starts watching the source, if that has not happened
    /// yet; fails, naming the source and the cause, when no valid credential can be loaded
    /// (then the next call tries again). [`ClientBuilder::build`](crate::ClientBuilder::build)
    /// awaits it; a client from [`build_lazy`](crate::ClientBuilder::build_lazy) runs it on
    /// first use, or when you call it (the fail-fast check). Concurrent callers share one load.
    pub async fn ready(&self) -> Result<()> {
        start(&self.shared).await
    }
}

impl Shared {
    /// Whether the first credential is in (one atomic load).
    #[inline]
    pub(crate) fn is_started(&self) -> bool {
        self.started.initialized()
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
            if let Some(tls) = &shared.tls {
                crate::tls::spawn_watch(tls);
            }
            let driver = crate::driver::spawn(shared);
            *shared.driver.lock().unwrap_or_else(|p| p.into_inner()) = driver;
            Ok(())
        })
        .await
        .map(|_| ())
}
