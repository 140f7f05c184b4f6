//! The bindings' runtimes and threads, all of one *generation* of the process: the shared
//! multi-thread runtime (`AsyncClient`, client construction, `refresh()`), each thread's own
//! runtime for the blocking `Client`, the keeper thread, and the thread calling `on_rotate`
//! callbacks. A forked child has none of the parent's threads and shares its pooled sockets:
//! `os.register_at_fork(after_in_child=...)` (see `keyswap/__init__.py`) calls
//! [`after_fork_in_child`], which starts a new generation; each piece is rebuilt on its first
//! use in the child (one atomic load on the request path tells), and the parent's are leaked,
//! never dropped (dropping a runtime would wait for worker threads the child does not have).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The current generation of the process (one atomic load).
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Called in a forked child (registered with `os.register_at_fork` by the package): a new
/// generation begins for the bindings and for the core (whose clients restart their watch on
/// their next request).
#[pyfunction]
#[pyo3(name = "_after_fork_in_child")]
pub(crate) fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    keyswap::after_fork();
}

/// A value of one generation: built on first use, rebuilt on first use in a forked child (the
/// parent's is leaked).
pub(crate) struct PerGeneration<T> {
    slot: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> PerGeneration<T> {
    pub(crate) const fn new() -> Self {
        PerGeneration {
            slot: Mutex::new(None),
        }
    }

    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let generation = generation();
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, value)) = slot.as_ref() {
            if *g == generation {
                return Arc::clone(value);
            }
        }
        let value = Arc::new(init());
        if let Some((_, stale)) = slot.replace((generation, Arc::clone(&value))) {
            std::mem::forget(stale);
        }
        value
    }
}

/// The shared multi-thread runtime of this generation, with each `AsyncClient`'s connection
/// pool on it (built from the client's `HttpConfig`: a forked child's pools are new, never the
/// parent's sockets).
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
    pub(crate) fn pool(
        &self,
        config: &Arc<HttpConfig>,
    ) -> keyswap::reqwest::Result<keyswap::reqwest::Client> {
        self.pools.get(config)
    }
}

/// The multi-thread Tokio runtime of this generation of the process. It runs `AsyncClient`
/// requests, builds clients and runs `refresh()`. (Background work — source watching,
/// rotation — runs on the core's own background thread.) The blocking `Client` sends its
/// requests on the calling thread's own runtime instead (`SyncRuntime`).
///
/// `KEYSWAP_WORKER_THREADS` (read when the runtime is built) sets its number of worker
/// threads; default: one per CPU, as Tokio does. One worker gives the lowest latency when the
/// Python side is a single thread or an event loop (no work stealing between workers); more
/// workers help when many threads drive TLS-heavy traffic.
pub(crate) fn runtime() -> Arc<AsyncRuntime> {
    static RUNTIME: PerGeneration<AsyncRuntime> = PerGeneration::new();
    RUNTIME.get_or_init(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("keyswap-worker");
        let workers = std::env::var("KEYSWAP_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0);
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

/// The `reqwest::Client` of each keyswap client on one runtime (keyed by its `HttpConfig`; an
/// entry whose config is gone belongs to a closed client and is dropped).
#[derive(Default)]
pub(crate) struct Pools(Mutex<Vec<(std::sync::Weak<HttpConfig>, keyswap::reqwest::Client)>>);

impl Pools {
    fn get(&self, config: &Arc<HttpConfig>) -> keyswap::reqwest::Result<keyswap::reqwest::Client> {
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

    /// Drops the pools of closed clients.
    fn prune(&self) {
        let dropped: Vec<_> = {
            let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let (dead, live) = std::mem::take(&mut *pools)
                .into_iter()
                .partition(|(w, _)| w.strong_count() == 0);
            *pools = live;
            dead
        };
        drop(dropped);
    }

    fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
    }
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
    /// This thread's `reqwest::Client` of each keyswap client.
    pools: Pools,
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
    /// Bound on each read of a response (reset after every successful read), like httpx's
    /// read timeout: a slow stream that keeps delivering is never cut, a dead server is.
    pub(crate) read_timeout: Option<std::time::Duration>,
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
        if let Some(t) = self.read_timeout {
            http = http.read_timeout(t);
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
        self.pools.get(config)
    }

    /// Drops the pools of closed clients.
    fn prune(&self) {
        self.pools.prune();
    }
}

impl Drop for SyncRuntime {
    fn drop(&mut self) {
        // The pools first (their connection tasks then end with the runtime), and no waiting
        // for blocking tasks (a DNS lookup) that may still run.
        self.pools.clear();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

type Registry = Mutex<Vec<std::sync::Weak<SyncRuntime>>>;

/// Every thread runtime of this generation, for its keeper.
fn registry() -> Arc<Registry> {
    static REGISTRY: PerGeneration<Registry> = PerGeneration::new();
    let mut started = None;
    let registry = REGISTRY.get_or_init(|| {
        let registry = Registry::default();
        started = Some(());
        registry
    });
    if started.is_some() {
        // Without a keeper (the OS refused a thread) requests still work: a caller coming back
        // after `CATCH_UP_AFTER` lets its runtime catch up first; idle threads' pools are then
        // only released when their threads exit.
        let kept = Arc::downgrade(&registry);
        let _ = std::thread::Builder::new()
            .name("keyswap-keeper".into())
            .spawn(move || keep(kept));
    }
    registry
}

/// The keeper: every `KEEPER_INTERVAL`, drives each runtime nobody called since the last round
/// until it has handled its pending events (`catch_up`), after dropping the pools of closed
/// clients.
fn keep(registry: std::sync::Weak<Registry>) {
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    let mut seen: Vec<(usize, u64)> = Vec::new();
    loop {
        std::thread::sleep(KEEPER_INTERVAL);
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let runtimes: Vec<std::sync::Arc<SyncRuntime>> = {
            let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
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
fn spare() -> Arc<Mutex<Vec<Arc<SyncRuntime>>>> {
    static SPARE: PerGeneration<Mutex<Vec<Arc<SyncRuntime>>>> = PerGeneration::new();
    SPARE.get_or_init(Default::default)
}

/// A thread's runtime, of one generation; handed to `spare` when the thread exits (the oldest
/// spare is dropped when there are `MAX_SPARE` already). The forking thread's runtime of the
/// parent's generation is leaked in the child instead.
struct ThreadSlot {
    rt: Arc<SyncRuntime>,
    generation: u64,
}

impl ThreadSlot {
    /// A runtime for this thread: a spare one, or a new one. `None` when it cannot be built.
    fn take() -> Option<ThreadSlot> {
        let generation = generation();
        let reused = spare().lock().unwrap_or_else(|p| p.into_inner()).pop();
        let rt = match reused {
            Some(rt) => rt,
            None => {
                let rt = Arc::new(SyncRuntime::new().ok()?);
                registry()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Arc::downgrade(&rt));
                rt
            }
        };
        Some(ThreadSlot { rt, generation })
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if self.generation != generation() {
            std::mem::forget(Arc::clone(&self.rt));
            return;
        }
        let evicted = {
            let spare = spare();
            let mut spare = spare.lock().unwrap_or_else(|p| p.into_inner());
            spare.push(Arc::clone(&self.rt));
            (spare.len() > MAX_SPARE).then(|| spare.remove(0))
        };
        drop(evicted);
    }
}

thread_local! {
    /// `None` when this thread's runtime could not be built (calls then use a runtime of their
    /// own) or was handed over as its Python thread ended. Replaced on first use in a forked
    /// child.
    static THREAD_RUNTIME: std::cell::RefCell<Option<ThreadSlot>> =
        std::cell::RefCell::new(ThreadSlot::take());
}

/// Runs `f` with the calling thread's runtime (made on first use, or taken from `spare`); when
/// the thread has none (it is exiting, or its runtime could not be built), with a runtime made
/// for this call. Errs only when that cannot be built either.
pub(crate) fn with_thread_runtime<R>(
    f: impl FnOnce(&std::sync::Arc<SyncRuntime>) -> R,
) -> std::io::Result<R> {
    let own = THREAD_RUNTIME
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            // None: handed over when the Python thread ended (`ThreadEnd`), or not buildable
            // last time. Another generation: a forked child, where the parent's runtime holds
            // the parent's sockets.
            if slot.as_ref().is_none_or(|s| s.generation != generation()) {
                *slot = ThreadSlot::take();
            }
            slot.as_ref().map(|slot| Arc::clone(&slot.rt))
        })
        .ok()
        .flatten();
    let rt = match own {
        Some(rt) => rt,
        None => std::sync::Arc::new(SyncRuntime::new()?),
    };
    Ok(f(&rt))
}

/// How often a blocking call on the main thread lets Python's signal handlers run.
const SIGNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether this is Python's main thread, where signal handlers run (cached per thread).
pub(crate) fn is_main_thread(py: Python<'_>) -> bool {
    thread_local! {
        static MAIN: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }
    if let Some(main) = MAIN.get() {
        return main;
    }
    let main = (|| -> PyResult<bool> {
        let threading = py.import("threading")?;
        let main = threading.call_method0("main_thread")?.getattr("ident")?;
        let me = threading.call_method0("get_ident")?;
        main.eq(me)
    })()
    .unwrap_or(false);
    MAIN.set(Some(main));
    main
}

/// `fut`, abandoned when a Python signal handler raises (Ctrl-C: `KeyboardInterrupt`) while it
/// waits. On the main thread (`main`), every `SIGNAL_CHECK` the wait takes the GIL for a moment
/// and runs pending handlers; elsewhere handlers cannot run and `fut` is awaited as is.
pub(crate) async fn interruptible<F: std::future::Future>(
    fut: F,
    main: bool,
) -> PyResult<F::Output> {
    if !main {
        return Ok(fut.await);
    }
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return Ok(out),
            () = tokio::time::sleep(SIGNAL_CHECK) => {
                Python::attach(|py| py.check_signals())?;
            }
        }
    }
}

/// Held in a `threading.local()` of each Python thread that sent a blocking request: when the
/// thread ends, Python clears its thread-local values on that thread before `join()` returns,
/// and this hands the thread's runtime (with its connections) to `spare` there and then.
/// Rust's own thread-locals are destroyed later, when the OS thread exits: a thread started
/// right after `join()` would often find no spare yet and open new connections.
#[pyclass(frozen)]
struct ThreadEnd;

impl Drop for ThreadEnd {
    fn drop(&mut self) {
        let slot = THREAD_RUNTIME
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten();
        drop(slot);
    }
}

/// Makes sure the calling Python thread returns its runtime when it ends (see `ThreadEnd`);
/// after the first call on a thread, one thread-local read.
pub(crate) fn watch_thread_end(py: Python<'_>) {
    thread_local! {
        static WATCHED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let generation = generation();
    if WATCHED.get() == generation {
        return;
    }
    static LOCAL: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let registered = (|| -> PyResult<()> {
        let local = LOCAL.get_or_try_init(py, || {
            py.import("threading")?
                .call_method0("local")
                .map(Bound::unbind)
        })?;
        local
            .bind(py)
            .setattr("keyswap_thread_end", Py::new(py, ThreadEnd)?)
    })();
    // Without it (cannot happen short of memory exhaustion) the runtime is handed over when
    // the OS thread exits, as before.
    if registered.is_ok() {
        WATCHED.set(generation);
    }
}
