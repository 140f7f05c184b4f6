//! Completes the asyncio futures of `AsyncClient` requests from Tokio tasks without taking the
//! GIL on a Tokio worker.
//!
//! `pyo3_async_runtimes::tokio::future_into_py` makes the worker that finishes a request attach
//! to the interpreter and call `loop.call_soon_threadsafe`: the worker waits for the GIL (which
//! the event loop's thread holds while it runs Python code, up to the switch interval) and every
//! response writes the loop's self-pipe. Here the worker only queues the Rust result and, when
//! the queue was empty, writes one byte to a pipe the loop watches (`loop.add_reader`); the
//! loop's thread, which holds the GIL anyway, then converts every queued result and completes
//! its future, one wake-up for a whole batch.
//!
//! One `Bridge` per event loop, found from the running loop (a per-thread cache). Cancelling the
//! asyncio future aborts the Tokio task, as with `future_into_py`. Every awaitable of the
//! bindings goes through here (not through pyo3-async-runtimes' runtime, which a forked child
//! could not rebuild); a bridge of the parent's generation is retired in a forked child (its
//! pipe is shared with the parent, its tasks ran on the parent's runtime).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors::to_py;
use crate::response::Response;

/// What a finished task hands the loop's thread: turned into the future's result there (with
/// the GIL, which that thread holds anyway).
pub(crate) type Outcome = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The outcome of a request.
pub(crate) fn response(outcome: keyswap::Result<Response>) -> Outcome {
    Box::new(move |py| match outcome {
        Ok(resp) => Ok(Py::new(py, resp)?.into_any()),
        Err(e) => Err(to_py(e)),
    })
}

struct Pending {
    fut: Py<PyAny>,
    callback: Py<DoneCallback>,
    abort: tokio::task::AbortHandle,
}

pub(crate) struct Bridge {
    /// Finished requests, waiting for the loop's thread.
    done: Mutex<Vec<(u64, Outcome)>>,
    /// Futures in flight, by request id (touched on the loop's thread, with the GIL).
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Written by workers (one byte when `done` was empty), read by the loop.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Bridge {
    fn complete(&self, id: u64, outcome: Outcome) {
        let was_empty = {
            let mut done = lock(&self.done);
            done.push((id, outcome));
            done.len() == 1
        };
        if was_empty {
            // Full pipe: the loop has a wake-up pending already.
            let _ = (&self.wake_tx).write(&[1]);
        }
    }

    /// On the loop's thread: completes the futures of every finished request.
    fn drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 256];
        loop {
            match (&self.wake_rx).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        let done = std::mem::take(&mut *lock(&self.done));
        for (id, outcome) in done {
            let Some(p) = lock(&self.pending).remove(&id) else {
                continue; // cancelled meanwhile
            };
            if let Err(err) = settle(py, &p, outcome) {
                err.write_unraisable(py, Some(p.fut.bind(py)));
            }
        }
    }
}

fn settle(py: Python<'_>, p: &Pending, outcome: Outcome) -> PyResult<()> {
    let fut = p.fut.bind(py);
    fut.call_method1(intern!(py, "remove_done_callback"), (p.callback.bind(py),))?;
    if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(()); // cancelled, its callback not run yet
    }
    match outcome(py) {
        Ok(value) => fut.call_method1(intern!(py, "set_result"), (value,))?,
        Err(e) => fut.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
    };
    Ok(())
}

/// The loop's reader callback: drains the bridge.
#[pyclass(frozen)]
struct Reader {
    bridge: Arc<Bridge>,
}

#[pymethods]
impl Reader {
    fn __call__(&self, py: Python<'_>) {
        self.bridge.drain(py);
    }
}

/// Done callback of one request's future: aborts the request when the future was cancelled.
#[pyclass(frozen)]
struct DoneCallback {
    bridge: Arc<Bridge>,
    id: u64,
}

#[pymethods]
impl DoneCallback {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            let p = lock(&self.bridge.pending).remove(&self.id);
            if let Some(p) = p {
                p.abort.abort();
            }
        }
        Ok(())
    }
}

struct LoopEntry {
    /// The process generation the bridge belongs to (see `fork.rs`).
    generation: u64,
    event_loop: Py<PyAny>,
    create_future: Py<PyAny>,
    bridge: Arc<Bridge>,
}

thread_local! {
    static LOOPS: RefCell<Vec<LoopEntry>> = const { RefCell::new(Vec::new()) };
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The bridge of the running loop and its `create_future`, made on first use.
fn for_running_loop(py: Python<'_>) -> PyResult<(Arc<Bridge>, Py<PyAny>)> {
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    retire_parents_bridges(py);
    let hit = LOOPS.with_borrow(|loops| {
        loops
            .iter()
            .find(|e| e.event_loop.as_ptr() == event_loop.as_ptr())
            .map(|e| (Arc::clone(&e.bridge), e.create_future.clone_ref(py)))
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    wake_tx.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let fd = wake_rx.as_raw_fd();
    let bridge = Arc::new(Bridge {
        done: Mutex::new(Vec::new()),
        pending: Mutex::new(HashMap::new()),
        next_id: std::sync::atomic::AtomicU64::new(0),
        wake_tx,
        wake_rx,
    });
    let reader = Py::new(
        py,
        Reader {
            bridge: Arc::clone(&bridge),
        },
    )?;
    event_loop.call_method1(intern!(py, "add_reader"), (fd, reader))?;
    let create_future = event_loop.getattr(intern!(py, "create_future"))?.unbind();
    // Forget loops that were closed (asyncio.run makes a new one each time); their bridges
    // go when their last request has finished.
    let mut closed = Vec::new();
    LOOPS.with_borrow_mut(|loops| {
        let mut i = 0;
        while i < loops.len() {
            let is_closed = loops[i]
                .event_loop
                .bind(py)
                .call_method0(intern!(py, "is_closed"))
                .and_then(|c| c.is_truthy())
                .unwrap_or(true);
            if is_closed {
                closed.push(loops.swap_remove(i));
            } else {
                i += 1;
            }
        }
        loops.push(LoopEntry {
            generation: crate::fork::generation(),
            event_loop: event_loop.unbind(),
            create_future: create_future.clone_ref(py),
            bridge: Arc::clone(&bridge),
        });
    });
    drop(closed);
    Ok((bridge, create_future))
}

/// In a forked child, the bridges this thread made in the parent: their loops stop watching
/// the parent's pipe (whose bytes belong to the parent's loop), and they are leaked: their
/// futures were to be completed by tasks the child does not run.
fn retire_parents_bridges(py: Python<'_>) {
    let generation = crate::fork::generation();
    let stale: Vec<LoopEntry> = LOOPS.with_borrow_mut(|loops| {
        if loops.iter().all(|e| e.generation == generation) {
            return Vec::new();
        }
        let (stale, current) = std::mem::take(loops)
            .into_iter()
            .partition(|e| e.generation != generation);
        *loops = current;
        stale
    });
    for entry in stale {
        let fd = entry.bridge.wake_rx.as_raw_fd();
        let _ = entry
            .event_loop
            .bind(py)
            .call_method1(intern!(py, "remove_reader"), (fd,));
        std::mem::forget(entry);
    }
}

/// Runs `fut` on the shared runtime; returns an asyncio future of its outcome.
pub(crate) fn spawn<F>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    // The runtime first: when it cannot be built, no loop has got a bridge or a future for
    // nothing.
    crate::shared_runtime::with_runtime(|rt| {
        let (bridge, create_future) = for_running_loop(py)?;
        let py_fut = create_future.bind(py).call0()?;
        let id = bridge
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let callback = Py::new(
            py,
            DoneCallback {
                bridge: Arc::clone(&bridge),
                id,
            },
        )?;
        py_fut.call_method1(intern!(py, "add_done_callback"), (callback.clone_ref(py),))?;
        let worker_bridge = Arc::clone(&bridge);
        let task = rt.spawn(async move {
            let outcome = fut.await;
            worker_bridge.complete(id, outcome);
        });
        // The loop's thread is this one: the result cannot be drained before this insert.
        lock(&bridge.pending).insert(
            id,
            Pending {
                fut: py_fut.clone().unbind(),
                callback,
                abort: task.abort_handle(),
            },
        );
        Ok(py_fut)
    })?
}

/// Runs `fut` on the shared runtime; returns an asyncio future of its value.
pub(crate) fn spawn_value<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: std::future::Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    spawn(py, async move {
        let value = fut.await;
        Box::new(move |py: Python<'_>| {
            value.and_then(|v| pyo3::IntoPyObjectExt::into_py_any(v, py))
        }) as Outcome
    })
}
