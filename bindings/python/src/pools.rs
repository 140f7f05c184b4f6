//! A keyswap client's `reqwest::Client`s: one per runtime that sends its requests (each thread's
//! own for the blocking `Client`, the shared runtime's for `AsyncClient`), all built from the
//! same settings. A connection belongs to the runtime whose tasks drive it, and a forked
//! child's runtimes are new: a pool is never shared across runtimes or with the parent.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use keyswap::reqwest;

/// How a reqwest client of the bindings is configured: the one `keyswap::Client` holds and
/// every runtime's own (`Pools::get`) are built from the same settings.
pub(crate) struct HttpConfig {
    pub(crate) default_headers: reqwest::header::HeaderMap,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    /// Bound on each read of a response (reset after every successful read), like httpx's
    /// read timeout: a slow stream that keeps delivering is never cut, a dead server is.
    pub(crate) read_timeout: Option<Duration>,
}

impl HttpConfig {
    pub(crate) fn build(&self) -> reqwest::Result<reqwest::Client> {
        // keyswap follows redirects itself (each hop decides whether the credential goes along).
        self.apply(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()))
            .build()
    }

    /// `builder` with these settings (also how an mTLS identity's own client is configured).
    pub(crate) fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder = builder.default_headers(self.default_headers.clone());
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        if let Some(t) = self.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = self.read_timeout {
            builder = builder.read_timeout(t);
        }
        builder
    }
}

/// The `reqwest::Client` of each keyswap client on one runtime (keyed by its `HttpConfig`; an
/// entry whose config is gone belongs to a closed client and is dropped).
#[derive(Default)]
pub(crate) struct Pools(Mutex<Vec<(Weak<HttpConfig>, reqwest::Client)>>);

impl Pools {
    /// The pool of the keyswap client configured by `config`, built on first use.
    pub(crate) fn get(&self, config: &Arc<HttpConfig>) -> reqwest::Result<reqwest::Client> {
        let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = Arc::as_ptr(config);
        // A `Weak` keeps its allocation: no other config can have the address of a live entry.
        if let Some((_, http)) = pools.iter().find(|(w, _)| std::ptr::eq(w.as_ptr(), key)) {
            return Ok(http.clone());
        }
        pools.retain(|(w, _)| w.strong_count() > 0);
        let http = config.build()?;
        pools.push((Arc::downgrade(config), http.clone()));
        Ok(http)
    }

    /// Drops the pools of closed clients (outside the lock: dropping a pool closes sockets).
    pub(crate) fn prune(&self) {
        let dead: Vec<_> = {
            let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let (dead, live) = std::mem::take(&mut *pools)
                .into_iter()
                .partition(|(w, _)| w.strong_count() == 0);
            *pools = live;
            dead
        };
        drop(dead);
    }

    /// Drops every pool.
    pub(crate) fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
