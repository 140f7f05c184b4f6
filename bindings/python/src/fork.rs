//! A forked child (gunicorn `--preload`, multiprocessing's fork, celery prefork) has none of the
//! parent's threads and shares its pooled sockets. The bindings' runtimes, threads and pools
//! belong to one *generation* of the process — the core's (`keyswap::fork`), so that one
//! counter says for the core and the bindings alike that a child must rebuild: each piece is
//! rebuilt on its first use in the child (one atomic load on the request path tells), and the
//! parent's are leaked, never dropped (dropping a runtime would wait for worker threads the
//! child does not have).

use pyo3::prelude::*;

pub(crate) use keyswap::fork::PerProcess;

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
