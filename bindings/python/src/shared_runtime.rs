//! The multi-thread Tokio runtime of this generation of the process, shared by every client:
//! it runs `AsyncClient` requests, builds clients, runs `refresh()` and the blocking reads of
//! mTLS clients. (Background work — source watching, rotation — runs on the core's own
//! background thread; the blocking `Client` sends on the calling thread's own runtime, see
//! `thread_runtime`.)

use std::sync::Arc;

use keyswap::reqwest;

use crate::fork::PerProcess;
use crate::pools::{HttpConfig, Pools};

/// The shared runtime, with each `AsyncClient`'s connection pool on it (a forked child's
/// pools are new, never the parent's sockets).
pub(crate) struct AsyncRuntime {
    rt: tokio::runtime::Runtime,
    pools: Pools,
}

impl std::ops::Deref for AsyncRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

impl AsyncRuntime {
    /// This runtime's `reqwest::Client` for the keyswap client configured by `config`.
    pub(crate) fn pool(&self, config: &Arc<HttpConfig>) -> reqwest::Result<reqwest::Client> {
        self.pools.get(config)
    }
}

/// The most worker threads `KEYSWAP_WORKER_THREADS` asks for that are honoured.
const MAX_WORKER_THREADS: usize = 256;

/// The shared runtime of this generation, built on first use.
///
/// `KEYSWAP_WORKER_THREADS` (read when the runtime is built) sets its number of worker
/// threads (at most [`MAX_WORKER_THREADS`]); default: one per CPU, as Tokio does. One worker gives the lowest latency when the
/// Python side is a single thread or an event loop (no work stealing between workers); more
/// workers help when many threads drive TLS-heavy traffic.
pub(crate) fn runtime() -> Arc<AsyncRuntime> {
    static RUNTIME: PerProcess<AsyncRuntime> = PerProcess::new();
    // Told of forks by `os.register_at_fork`: no process-id check on this request path.
    RUNTIME.get_or_init_recorded(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("keyswap-worker");
        let workers = std::env::var("KEYSWAP_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            // A setting must not make the runtime unbuildable (a thread per worker is spawned
            // at build, and a failed spawn would leave the process without keyswap).
            .map(|n| n.min(MAX_WORKER_THREADS));
        if let Some(n) = workers {
            builder.worker_threads(n);
        }
        AsyncRuntime {
            rt: builder.build().expect(
                "cannot build keyswap's Tokio runtime (out of threads or file descriptors?)",
            ),
            pools: Pools::default(),
        }
    })
}
