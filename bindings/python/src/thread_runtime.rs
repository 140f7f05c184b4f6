//! Which `SyncRuntime` a thread's blocking requests run on: its own, made on its first request
//! and handed on when the thread ends. When a thread exits, its runtime (with its pools and
//! their idle connections) is kept for a thread started later, up to `MAX_SPARE` of them (a
//! program starting a thread per task keeps reusing connections); beyond that the oldest is
//! freed, or once the last `stream=True` response still reading from one of its connections
//! is gone. In a forked child the parent's runtime of the forking thread is leaked, never used.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::fork::{PerProcess, generation};
use crate::sync_runtime::SyncRuntime;

/// How many runtimes of exited threads are kept, with their pools, for threads started later.
const MAX_SPARE: usize = 4;

/// Runtimes of exited threads, the most recent last.
fn spare() -> Arc<Mutex<Vec<Arc<SyncRuntime>>>> {
    static SPARE: PerProcess<Mutex<Vec<Arc<SyncRuntime>>>> = PerProcess::new();
    SPARE.get_or_init_recorded(Default::default)
}

/// A thread's runtime, of one generation; handed to `spare` when the thread ends (the oldest
/// spare is dropped when there are `MAX_SPARE` already).
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
                crate::keeper::register(&rt);
                rt
            }
        };
        Some(ThreadSlot { rt, generation })
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if self.generation != generation() {
            // The parent's, in a forked child: its connections are the parent's.
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
pub(crate) fn with_thread_runtime<R>(f: impl FnOnce(&Arc<SyncRuntime>) -> R) -> std::io::Result<R> {
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
        None => Arc::new(SyncRuntime::new()?),
    };
    Ok(f(&rt))
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
