//! The multi-thread Tokio runtime of this generation of the process, shared by every client:
//! it runs `AsyncClient` requests, builds clients, runs `refresh()` and the blocking reads of
//! mTLS clients. (Background work — source watching, rotation — runs on the core's own
//! background thread; the blocking `Client` sends on the calling thread's own runtime, see
//! `thread_runtime`.)

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use keyswap::reqwest;
use pyo3::PyResult;

use crate::errors::no_runtime;
use crate::fork::PerProcessRetry;
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

/// Runs `f` with the shared runtime of this generation, built on first use.
///
/// `KEYSWAP_WORKER_THREADS` (read when the runtime is built) sets its number of worker threads
/// (at most [`MAX_WORKER_THREADS`]); default: one per CPU, as Tokio does. One worker gives the
/// lowest latency when the Python side is a single thread or an event loop (no work stealing
/// between workers); more workers help when many threads drive TLS-heavy traffic.
///
/// Errs (`RuntimeError`) when the OS refuses the runtime its file descriptors or threads; the
/// next call tries again.
pub(crate) fn with_runtime<R>(f: impl FnOnce(&AsyncRuntime) -> R) -> PyResult<R> {
    static RUNTIME: PerProcessRetry<AsyncRuntime> = PerProcessRetry::new();
    RUNTIME
        .with(build, f)
        .map_err(|e| no_runtime("shared runtime", e))
}

fn build() -> std::io::Result<AsyncRuntime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("keyswap-worker");
    let workers = std::env::var("KEYSWAP_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        // A setting must not make the runtime unbuildable (a thread per worker is spawned
        // at build).
        .map(|n| n.min(MAX_WORKER_THREADS));
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    // Out of file descriptors (the I/O driver's epoll and eventfd), `build` errs; out of
    // threads, Tokio panics while spawning the workers: both become the caller's error.
    let rt =
        std::panic::catch_unwind(AssertUnwindSafe(|| builder.build())).unwrap_or_else(|_| {
            Err(std::io::Error::other(
                "the OS refused to spawn its worker threads",
            ))
        })?;
    Ok(AsyncRuntime {
        rt,
        pools: Pools::default(),
    })
}
