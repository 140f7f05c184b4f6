//! Python bindings for keyswap: the native module `keyswap._keyswap`.
//!
//! Everything here wraps the Rust core; no credential logic is re-implemented. The Python
//! package `keyswap` (python/keyswap/__init__.py) re-exports these names.

mod auth;
#[cfg(unix)]
mod bridge;
mod client;
mod convert;
mod errors;
mod health;
mod http_sources;
mod response;
mod signers;
mod sources;

use pyo3::prelude::*;

/// The multi-thread Tokio runtime of the process: the one pyo3-async-runtimes owns. It runs
/// `AsyncClient` requests, builds clients, runs `refresh()` and the background work (source
/// watching, rotation). The blocking `Client` sends its requests on `sync_runtime` instead.
///
/// `KEYSWAP_WORKER_THREADS` (read once, before the first client is built) sets its number of
/// worker threads; default: one per CPU, as Tokio does. One worker gives the lowest latency
/// when the Python side is a single thread or an event loop (no work stealing between
/// workers); more workers help when many threads drive TLS-heavy traffic.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let workers = std::env::var("KEYSWAP_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0);
        if let Some(n) = workers {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder
                .enable_all()
                .worker_threads(n)
                .thread_name("keyswap-worker");
            pyo3_async_runtimes::tokio::init(builder);
        }
    });
    pyo3_async_runtimes::tokio::get_runtime()
}

/// The runtime the blocking `Client` runs its requests on: a current-thread runtime that the
/// calling thread drives itself inside `block_on`, so a request makes no thread hop (the
/// caller writes the request, waits in `epoll` for the answer and reads it; no wake-up of a
/// worker, no wake-up of the caller by a worker). With several calling threads, one of them
/// drives the I/O of all (Tokio hands the runtime's core from one `block_on` to the next).
///
/// Between requests nobody would drive it: pooled connections would not see the server close
/// them, timers would not fire. A keeper thread therefore drives it once no caller has been
/// inside for `KEEPER_GRACE`, and hands it back as soon as a caller comes (one hop, only after
/// an idle period). While callers are busy the keeper only checks every `KEEPER_GRACE`.
pub(crate) struct SyncRuntime {
    rt: tokio::runtime::Runtime,
    /// Callers inside `block_on`.
    active: std::sync::atomic::AtomicUsize,
    /// Calls so far (the keeper sees activity between two of its checks by a change).
    calls: std::sync::atomic::AtomicU64,
    /// Whether the keeper is driving the runtime (callers then wake it through `keeper_waker`).
    keeper_driving: std::sync::atomic::AtomicBool,
    keeper_waker: futures_util::task::AtomicWaker,
}

/// How long the runtime must be without callers before the keeper drives it.
const KEEPER_GRACE: std::time::Duration = std::time::Duration::from_millis(5);

impl SyncRuntime {
    /// Runs `fut` to completion on the calling thread (the GIL must not be held).
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        use std::sync::atomic::Ordering::SeqCst;
        self.active.fetch_add(1, SeqCst);
        self.calls.fetch_add(1, SeqCst);
        if self.keeper_driving.load(SeqCst) {
            self.keeper_waker.wake();
        }
        struct Exit<'a>(&'a SyncRuntime);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.active.fetch_sub(1, SeqCst);
            }
        }
        let _exit = Exit(self);
        self.rt.block_on(fut)
    }

    fn keep(&'static self) {
        use std::sync::atomic::Ordering::SeqCst;
        let mut seen = u64::MAX;
        loop {
            // Wait for a quiet period: no caller inside, no call since the last check.
            let calls = self.calls.load(SeqCst);
            if self.active.load(SeqCst) > 0 || calls != seen {
                seen = calls;
                std::thread::park_timeout(KEEPER_GRACE);
                continue;
            }
            self.keeper_driving.store(true, SeqCst);
            self.rt.block_on(std::future::poll_fn(|cx| {
                self.keeper_waker.register(cx.waker());
                if self.active.load(SeqCst) > 0 {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            }));
            self.keeper_driving.store(false, SeqCst);
            seen = u64::MAX;
        }
    }
}

pub(crate) fn sync_runtime() -> &'static SyncRuntime {
    static RT: std::sync::OnceLock<&'static SyncRuntime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("keyswap-sync")
            .build()
            .expect("cannot build the keyswap runtime");
        let this: &'static SyncRuntime = Box::leak(Box::new(SyncRuntime {
            rt,
            active: Default::default(),
            calls: Default::default(),
            keeper_driving: Default::default(),
            keeper_waker: Default::default(),
        }));
        std::thread::Builder::new()
            .name("keyswap-keeper".into())
            .spawn(move || this.keep())
            .expect("cannot start the keyswap-keeper thread");
        this
    })
}

#[pymodule]
fn _keyswap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(py, m)?;
    m.add_class::<sources::Credential>()?;
    m.add_class::<sources::Source>()?;
    m.add_class::<sources::FileSource>()?;
    m.add_class::<sources::EnvSource>()?;
    m.add_class::<sources::FixedSource>()?;
    m.add_class::<sources::CustomSource>()?;
    m.add_class::<http_sources::FromFile>()?;
    m.add_class::<http_sources::FromEnv>()?;
    m.add_class::<http_sources::HttpSource>()?;
    m.add_class::<http_sources::VaultSource>()?;
    m.add_class::<http_sources::AwsSecretsManagerAgentSource>()?;
    m.add_class::<http_sources::GcpSecretManagerSource>()?;
    m.add_class::<http_sources::AzureKeyVaultSource>()?;
    m.add_class::<auth::Auth>()?;
    m.add_class::<auth::Header>()?;
    m.add_class::<auth::Bearer>()?;
    m.add_class::<auth::Query>()?;
    m.add_class::<auth::Basic>()?;
    m.add_class::<auth::Sign>()?;
    m.add_class::<auth::SigningRequest>()?;
    m.add_class::<signers::BinanceSigner>()?;
    m.add_class::<signers::KrakenSigner>()?;
    m.add_class::<signers::CoinbaseSigner>()?;
    m.add_class::<signers::OkxSigner>()?;
    m.add_class::<signers::BybitSigner>()?;
    m.add_class::<signers::HmacSigner>()?;
    m.add_class::<response::Headers>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<response::Request>()?;
    m.add_class::<response::ByteStream>()?;
    m.add_class::<response::AsyncByteStream>()?;
    m.add_class::<health::Health>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    Ok(())
}
