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
mod mtls;
mod response;
mod signers;
mod sources;

use pyo3::prelude::*;

/// The multi-thread Tokio runtime of the process: the one pyo3-async-runtimes owns. It runs
/// `AsyncClient` requests, builds clients, runs `refresh()` and the background work (source
/// watching, rotation). The blocking `Client` sends its requests on the calling thread's own
/// runtime instead (`SyncRuntime`).
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

/// The runtime a thread's blocking `Client` requests run on: a current-thread runtime of that
/// thread (`with_thread_runtime`), which the calling thread drives itself inside `block_on`, with
/// the thread's own connection pool for each client (`pool`). A request makes no thread hop:
/// the caller writes the request, waits in `epoll` for the answer and reads it; no wake-up of a
/// worker, no wake-up of the caller by a worker, and with several calling threads none of them
/// waits for another to drive its I/O (with one runtime shared by all, one caller drove the I/O
/// of every other and woke it: 8 threads spent about a fifth of their time parking and waking).
///
/// Between requests nobody drives it: pooled connections do not see the server close them,
/// timers do not fire. Two things make up for it:
/// - a caller coming back after `CATCH_UP_AFTER` without one first lets the runtime handle what
///   happened meanwhile (`catch_up`: connections the server closed are dropped from the pool,
///   so the request is not sent on a dead one);
/// - the keeper thread (one for the process) does the same for runtimes idle since its last
///   round, every `KEEPER_INTERVAL`, so that an idle thread's closed connections are released
///   and the pools of closed clients dropped.
///
/// When a thread exits, its runtime (with its pools and their idle connections) is kept for a
/// thread started later, up to `MAX_SPARE` of them (a program starting a thread per task keeps
/// reusing connections); beyond that the oldest is freed, or once the last `stream=True`
/// response still reading from one of its connections is gone.
pub(crate) struct SyncRuntime {
    rt: Option<tokio::runtime::Runtime>,
    /// Callers inside `block_on`.
    active: std::sync::atomic::AtomicUsize,
    /// Calls so far (the keeper sees activity between two of its rounds by a change).
    calls: std::sync::atomic::AtomicU64,
    /// When the last caller left, in nanoseconds after `epoch()`.
    left_at: std::sync::atomic::AtomicU64,
    /// This thread's `reqwest::Client` of each keyswap client (keyed by its `HttpConfig`; an
    /// entry whose config is gone belongs to a closed client and is dropped).
    pools: std::sync::Mutex<Vec<(std::sync::Weak<HttpConfig>, keyswap::reqwest::Client)>>,
}

/// While a response is due and no other thread is inside a blocking call, the caller polls for
/// it without sleeping for up to this long before it blocks in `epoll_wait`: on loopback or a
/// LAN the answer usually comes within it, and the caller is spared the sleep and the wake-up
/// (a context switch each way, the larger part of a fast round trip). Bounded, so a slow
/// server costs at most this much CPU per request; never with concurrent callers, which would
/// take CPU from each other. `KEYSWAP_SYNC_SPIN_US` (read once) overrides it; 0 turns it off.
const DEFAULT_SPIN: std::time::Duration = std::time::Duration::from_micros(200);

fn spin() -> std::time::Duration {
    static SPIN: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        std::env::var("KEYSWAP_SYNC_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_SPIN, std::time::Duration::from_micros)
    })
}
/// Threads inside a blocking call, over every runtime: spinning only when alone.
static BLOCKING_CALLERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Polls `fut`; while it is pending, for at most `spin()` and while this is the only blocking
/// caller, lets the runtime poll its driver without blocking (`yield_now`: a zero-timeout
/// `epoll_wait`) and polls again; then waits for it normally.
async fn spin_then_wait<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::atomic::Ordering::Relaxed;
    use std::task::Poll;
    let mut fut = std::pin::pin!(fut);
    let mut until = None;
    loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = polled {
            return out;
        }
        let now = std::time::Instant::now();
        let until = *until.get_or_insert_with(|| now + spin());
        if now >= until || BLOCKING_CALLERS.load(Relaxed) > 1 {
            return fut.await;
        }
        tokio::task::yield_now().await;
    }
}

/// A caller coming back after this long without a call first lets the runtime catch up.
const CATCH_UP_AFTER: std::time::Duration = std::time::Duration::from_millis(1);
/// How often the keeper drives runtimes nobody called since its last round.
const KEEPER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn nanos_now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Lets a current-thread runtime handle its pending I/O events and timers, and run the tasks
/// they wake, before the caller's own future goes on. In `block_on` the caller's future is
/// polled first: after the first yield the runtime polls its driver (which wakes the
/// connection tasks whose sockets changed), after the second it has run them.
async fn catch_up() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// How a reqwest client of the bindings is configured: the one `keyswap::Client` holds and
/// every thread's own (`SyncRuntime::pool`) are built from the same settings.
pub(crate) struct HttpConfig {
    pub(crate) default_headers: keyswap::reqwest::header::HeaderMap,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) connect_timeout: Option<std::time::Duration>,
}

impl HttpConfig {
    pub(crate) fn build(&self) -> keyswap::reqwest::Result<keyswap::reqwest::Client> {
        // keyswap follows redirects itself (each hop decides whether the credential goes along).
        let mut http = keyswap::reqwest::Client::builder()
            .redirect(keyswap::reqwest::redirect::Policy::none())
            .default_headers(self.default_headers.clone());
        if let Some(t) = self.timeout {
            http = http.timeout(t);
        }
        if let Some(t) = self.connect_timeout {
            http = http.connect_timeout(t);
        }
        http.build()
    }
}

impl SyncRuntime {
    /// Fails when the OS refuses what a runtime needs (an `epoll` instance, an `eventfd`: out
    /// of file descriptors).
    fn new() -> std::io::Result<SyncRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("keyswap-sync")
            .build()?;
        Ok(SyncRuntime {
            rt: Some(rt),
            active: Default::default(),
            calls: Default::default(),
            left_at: Default::default(),
            pools: Default::default(),
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime present until dropped")
    }

    /// Runs `fut` to completion on the calling thread (the GIL must not be held). Any thread
    /// may call it (a `stream=True` body read on another thread); one drives at a time.
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        use std::sync::atomic::Ordering::{Relaxed, SeqCst};
        self.active.fetch_add(1, SeqCst);
        BLOCKING_CALLERS.fetch_add(1, Relaxed);
        self.calls.fetch_add(1, Relaxed);
        struct Exit<'a>(&'a SyncRuntime);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.left_at.store(nanos_now(), Relaxed);
                BLOCKING_CALLERS.fetch_sub(1, Relaxed);
                self.0.active.fetch_sub(1, SeqCst);
            }
        }
        let _exit = Exit(self);
        let idle = nanos_now().saturating_sub(self.left_at.load(Relaxed));
        if idle > CATCH_UP_AFTER.as_nanos() as u64 {
            self.rt().block_on(async {
                catch_up().await;
                spin_then_wait(fut).await
            })
        } else {
            self.rt().block_on(spin_then_wait(fut))
        }
    }

    /// This thread's `reqwest::Client` for the keyswap client configured by `config`, built on
    /// first use.
    pub(crate) fn pool(
        &self,
        config: &std::sync::Arc<HttpConfig>,
    ) -> keyswap::reqwest::Result<keyswap::reqwest::Client> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let key = std::sync::Arc::as_ptr(config);
        // A `Weak` keeps its allocation: no other config can have the address of a live entry.
        if let Some((_, http)) = pools.iter().find(|(w, _)| std::ptr::eq(w.as_ptr(), key)) {
            return Ok(http.clone());
        }
        pools.retain(|(w, _)| w.strong_count() > 0);
        let http = config.build()?;
        pools.push((std::sync::Arc::downgrade(config), http.clone()));
        Ok(http)
    }

    /// Drops the pools of closed clients.
    fn prune(&self) {
        let dropped: Vec<_> = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            let (dead, live) = std::mem::take(&mut *pools)
                .into_iter()
                .partition(|(w, _)| w.strong_count() == 0);
            *pools = live;
            dead
        };
        drop(dropped);
    }
}

impl Drop for SyncRuntime {
    fn drop(&mut self) {
        // The pools first (their connection tasks then end with the runtime), and no waiting
        // for blocking tasks (a DNS lookup) that may still run.
        self.pools
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Every thread runtime, for the keeper.
fn registry() -> &'static std::sync::Mutex<Vec<std::sync::Weak<SyncRuntime>>> {
    static REGISTRY: std::sync::OnceLock<std::sync::Mutex<Vec<std::sync::Weak<SyncRuntime>>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        // Without a keeper (the OS refused a thread) requests still work: a caller coming back
        // after `CATCH_UP_AFTER` lets its runtime catch up first; idle threads' pools are then
        // only released when their threads exit.
        let _ = std::thread::Builder::new()
            .name("keyswap-keeper".into())
            .spawn(keep);
        Default::default()
    })
}

/// The keeper: every `KEEPER_INTERVAL`, drives each runtime nobody called since the last round
/// until it has handled its pending events (`catch_up`), after dropping the pools of closed
/// clients.
fn keep() {
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    let mut seen: Vec<(usize, u64)> = Vec::new();
    loop {
        std::thread::sleep(KEEPER_INTERVAL);
        let runtimes: Vec<std::sync::Arc<SyncRuntime>> = {
            let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
            reg.retain(|w| w.strong_count() > 0);
            reg.iter().filter_map(std::sync::Weak::upgrade).collect()
        };
        let mut now_seen = Vec::with_capacity(runtimes.len());
        for rt in &runtimes {
            let key = std::sync::Arc::as_ptr(rt) as usize;
            let calls = rt.calls.load(Relaxed);
            let idle =
                rt.active.load(SeqCst) == 0 && seen.iter().any(|&(k, c)| k == key && c == calls);
            now_seen.push((key, calls));
            if idle {
                rt.prune();
                rt.rt().block_on(catch_up());
            }
        }
        seen = now_seen;
        // A runtime whose thread has exited meanwhile is dropped here, outside `block_on`.
        drop(runtimes);
    }
}

/// How many runtimes of exited threads are kept, with their pools, for threads started later.
const MAX_SPARE: usize = 4;

/// Runtimes of exited threads, the most recent last. A program that starts a thread per task
/// then reuses the connections (and the reqwest clients) of the threads before it instead of
/// opening new ones each time.
fn spare() -> &'static std::sync::Mutex<Vec<std::sync::Arc<SyncRuntime>>> {
    static SPARE: std::sync::OnceLock<std::sync::Mutex<Vec<std::sync::Arc<SyncRuntime>>>> =
        std::sync::OnceLock::new();
    SPARE.get_or_init(Default::default)
}

/// A thread's runtime; handed to `spare` when the thread exits (the oldest spare is dropped
/// when there are `MAX_SPARE` already).
struct ThreadSlot(std::sync::Arc<SyncRuntime>);

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        let evicted = {
            let mut spare = spare().lock().unwrap_or_else(|p| p.into_inner());
            spare.push(std::sync::Arc::clone(&self.0));
            (spare.len() > MAX_SPARE).then(|| spare.remove(0))
        };
        drop(evicted);
    }
}

thread_local! {
    /// `None` when this thread's runtime could not be built; calls then try a runtime of their own.
    static THREAD_RUNTIME: Option<ThreadSlot> = {
        let reused = spare().lock().unwrap_or_else(|p| p.into_inner()).pop();
        match reused {
            Some(rt) => Some(ThreadSlot(rt)),
            None => SyncRuntime::new().ok().map(|rt| {
                let rt = std::sync::Arc::new(rt);
                registry()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(std::sync::Arc::downgrade(&rt));
                ThreadSlot(rt)
            }),
        }
    };
}

/// Runs `f` with the calling thread's runtime (made on first use, or taken from `spare`); when
/// the thread has none (it is exiting, or its runtime could not be built), with a runtime made
/// for this call. Errs only when that cannot be built either.
pub(crate) fn with_thread_runtime<R>(
    f: impl FnOnce(&std::sync::Arc<SyncRuntime>) -> R,
) -> std::io::Result<R> {
    let own = THREAD_RUNTIME
        .try_with(|slot| slot.as_ref().map(|slot| std::sync::Arc::clone(&slot.0)))
        .ok()
        .flatten();
    let rt = match own {
        Some(rt) => rt,
        None => std::sync::Arc::new(SyncRuntime::new()?),
    };
    Ok(f(&rt))
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
