//! `on_rotate` callbacks: Python callables told of every rotation (versions, never keys).
//!
//! The core's rotation hook runs on the core's task that installed the credential, so it must
//! neither wait for the GIL (stalling that task) nor run Python code that could call back into
//! the client: it only queues the event, and one thread per process generation calls the
//! callbacks, in order (a forked child starts its own thread: the parent's is not there).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::fork::PerProcessRetry;

/// The Python callbacks of one client, shared with its rotation hook.
pub(crate) struct Callbacks {
    list: Py<PyList>,
    /// How many there are (read without the GIL by the hook: none, no event queued).
    count: AtomicUsize,
}

type RotateEvent = (Arc<Callbacks>, String, String);

/// Queues `event` for this generation's dispatcher thread, started on first use. Out of
/// threads, the event is dropped (its callbacks do not run; rotation itself goes on) and the
/// next rotation tries to start the thread again.
fn dispatch(event: RotateEvent) {
    static TX: PerProcessRetry<mpsc::Sender<RotateEvent>> = PerProcessRetry::new();
    let _ = TX.with(start_dispatcher, |tx| tx.send(event));
}

fn start_dispatcher() -> std::io::Result<mpsc::Sender<RotateEvent>> {
    let (tx, rx) = mpsc::channel::<RotateEvent>();
    std::thread::Builder::new()
        .name("keyswap-on-rotate".into())
        .spawn(move || {
            while let Ok(event) = rx.recv() {
                let attached = Python::try_attach(move |py| {
                    let (callbacks, old, new) = event;
                    let snapshot: Vec<_> = callbacks.list.bind(py).iter().collect();
                    for cb in snapshot {
                        if let Err(err) = cb.call1((old.as_str(), new.as_str())) {
                            err.write_unraisable(py, Some(&cb));
                        }
                    }
                });
                if attached.is_none() {
                    break; // the interpreter is shutting down
                }
            }
        })?;
    Ok(tx)
}

impl Callbacks {
    /// The callbacks of the constructor's `on_rotate=`: a callable, a list of callables, or
    /// `None`.
    pub(crate) fn new(py: Python<'_>, on_rotate: Option<&Bound<'_, PyAny>>) -> PyResult<Callbacks> {
        let callbacks = Callbacks {
            list: PyList::empty(py).unbind(),
            count: AtomicUsize::new(0),
        };
        let Some(cb) = on_rotate.filter(|o| !o.is_none()) else {
            return Ok(callbacks);
        };
        if cb.is_callable() {
            callbacks.add(cb)?;
            return Ok(callbacks);
        }
        for item in cb.try_iter()? {
            let item = item?;
            if !item.is_callable() {
                return Err(PyTypeError::new_err(
                    "on_rotate takes a callable or a list of callables",
                ));
            }
            callbacks.add(&item)?;
        }
        Ok(callbacks)
    }

    /// Registers one more callback.
    pub(crate) fn add(&self, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err("on_rotate needs a callable"));
        }
        let list = self.list.bind(callback.py());
        list.append(callback)?;
        self.count.store(list.len(), Ordering::Release);
        Ok(())
    }

    /// The core's rotation hook for these callbacks: queues the event for the dispatcher.
    pub(crate) fn hook(self: &Arc<Self>) -> impl Fn(&keyswap::Rotation) + Send + Sync + 'static {
        let callbacks = Arc::clone(self);
        move |rotation| {
            if callbacks.count.load(Ordering::Acquire) > 0 {
                dispatch((
                    Arc::clone(&callbacks),
                    rotation.old_version.clone(),
                    rotation.new_version.clone(),
                ));
            }
        }
    }
}
