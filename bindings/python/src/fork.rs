//! A forked child (gunicorn `--preload`, multiprocessing's fork, celery prefork) has none of the
//! parent's threads and shares its pooled sockets. The bindings' runtimes, threads and pools
//! belong to one *generation* of the process — the core's (`keyswap::fork`), so that one
//! counter says for the core and the bindings alike that a child must rebuild: each piece is
//! rebuilt on its first use in the child (one atomic load on the request path tells), and the
//! parent's are leaked, never dropped (dropping a runtime would wait for worker threads the
//! child does not have).

use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;

pub(crate) use keyswap::fork::PerProcess;

/// A [`PerProcess`] value whose build can fail (the OS refusing a thread or file descriptors):
/// after a failure the next use tries again, rather than the generation keeping a broken value.
/// Once built, a use costs what `PerProcess` costs, plus one load.
pub(crate) struct PerProcessRetry<T> {
    cell: PerProcess<Slot<T>>,
}

struct Slot<T> {
    value: OnceLock<T>,
    /// Held while building: one value per generation, never a second one built and dropped.
    building: Mutex<()>,
}

impl<T> PerProcessRetry<T> {
    /// An empty cell (usable in a `static`).
    pub(crate) const fn new() -> Self {
        PerProcessRetry {
            cell: PerProcess::new(),
        }
    }

    /// Runs `f` with this generation's value, built by `init` if there is none yet; `init`'s
    /// error when it fails.
    pub(crate) fn with<R, E>(
        &self,
        init: impl FnOnce() -> Result<T, E>,
        f: impl FnOnce(&T) -> R,
    ) -> Result<R, E> {
        // Told of forks by `os.register_at_fork`: no process-id check (a request path uses it).
        let slot = self.cell.get_or_init_recorded(|| Slot {
            value: OnceLock::new(),
            building: Mutex::new(()),
        });
        let value = match slot.value.get() {
            Some(value) => value,
            None => slot.build(init)?,
        };
        Ok(f(value))
    }
}

impl<T> Slot<T> {
    #[cold]
    fn build<E>(&self, init: impl FnOnce() -> Result<T, E>) -> Result<&T, E> {
        let _building = self.building.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let value = init()?;
        Ok(self.value.get_or_init(|| value))
    }
}

/// The current generation of the process (one atomic load).
#[inline]
pub(crate) fn generation() -> u64 {
    keyswap::fork::generation()
}

/// Called in a forked child (registered with `os.register_at_fork` by the package): a new
/// generation begins, for the core's clients (which restart their watch on their next request)
/// and for the bindings' runtimes and threads.
#[pyfunction]
#[pyo3(name = "_after_fork_in_child")]
pub(crate) fn after_fork_in_child() {
    keyswap::after_fork();
}
