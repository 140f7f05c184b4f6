//! Which process this is, as far as keyswap's background work is concerned.
//!
//! After `fork()` only the forking thread exists in the child: keyswap's background thread and
//! runtime, the key-file reader threads, the file watchers' threads and every pooled
//! connection's task are gone, and pooled sockets are shared with the parent. Everything
//! keyswap runs in the background therefore belongs to one *generation* of the process, and a
//! child starts a new generation: state of the parent's generation is never used again (nor
//! dropped: its threads are not there to shut it down), and whatever is needed is rebuilt on
//! first use.
//!
//! A new generation begins when keyswap notices a new process id — checked where background
//! work is started or resumed (a source's read, a watch, a ticker, a refresh), never on the
//! request path — or when [`after_fork`] says so (the Python bindings call it from
//! `os.register_at_fork(after_in_child=...)`). A client's request only compares one atomic
//! number with its own to learn that it must restart its watch in this process.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The process id of the current generation (0: not recorded yet).
static PID: AtomicU32 = AtomicU32::new(0);
/// The current generation; bumped once per fork noticed.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Tells keyswap that this process is a child forked from the process that built its clients.
/// Optional: keyswap notices a new process id by itself wherever it starts background work;
/// calling this right after `fork()` (the Python bindings do it for you) makes the existing
/// clients restart their watch on their very next request. Harmless in a process that was not
/// forked.
pub fn after_fork() {
    PID.store(std::process::id(), Ordering::SeqCst);
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current generation, without checking the process id (one atomic load). Public for the
/// Python bindings, whose own per-process state follows the core's generations.
#[doc(hidden)]
#[inline]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Stops a background task spawned in generation `spawned_in` whose owner is gone: aborted in
/// the process that spawned it; in a forked child, forgotten. The parent's task does not run
/// here, and aborting it would take the parent's runtime's locks (which a thread that is not
/// in this process may have held at the fork) and wake that runtime through a descriptor both
/// processes share. `check`, not `generation`: a child forked without `after_fork` that never
/// sent a request has not noticed its new process id yet.
pub(crate) fn stop_task(spawned_in: u64, task: tokio::task::AbortHandle) {
    if spawned_in == check() {
        task.abort();
    } else {
        std::mem::forget(task);
    }
}

/// The current generation after checking the process id (a system call): a new process id
/// starts a new generation.
pub(crate) fn check() -> u64 {
    let pid = std::process::id();
    let seen = PID.load(Ordering::Acquire);
    if seen == pid {
        return generation();
    }
    if seen == 0 {
        // First look in this process: nothing to rebuild yet.
        if PID
            .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return generation();
        }
        return check();
    }
    if PID
        .compare_exchange(seen, pid, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }
    generation()
}

/// A value that belongs to one generation of the process: built on first use, rebuilt on the
/// first use in a forked child. The parent's value is leaked in the child, never dropped: its
/// threads (a runtime's workers, a watcher's thread) are gone, and dropping it could wait for
/// them forever. Public (hidden) for the Python bindings' runtimes and threads.
#[doc(hidden)]
pub struct PerProcess<T> {
    slot: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> Default for PerProcess<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PerProcess<T> {
    /// An empty cell (usable in a `static`).
    pub const fn new() -> Self {
        PerProcess {
            slot: Mutex::new(None),
        }
    }

    /// This generation's value, built by `init` if there is none yet.
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> Arc<T> {
        self.get_or_init_in(check(), init)
    }

    /// [`get_or_init`](Self::get_or_init) without the process-id check (a system call): for a
    /// request path whose caller learns of a fork through [`after_fork`] (the Python bindings,
    /// from `os.register_at_fork`).
    pub fn get_or_init_recorded(&self, init: impl FnOnce() -> T) -> Arc<T> {
        self.get_or_init_in(generation(), init)
    }

    fn get_or_init_in(&self, generation: u64, init: impl FnOnce() -> T) -> Arc<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_generation_rebuilds_and_leaks_the_old_value() {
        let cell = PerProcess::new();
        let first = cell.get_or_init_in(1, || 1);
        assert!(Arc::ptr_eq(&first, &cell.get_or_init_in(1, || 2)));
        let second = cell.get_or_init_in(2, || 2);
        assert_eq!(*second, 2);
        // The first generation's value is leaked, not dropped: two strong references remain
        // (ours and the leaked one).
        assert_eq!(Arc::strong_count(&first), 2);
    }

    #[test]
    fn the_generation_is_stable_within_a_process() {
        let g = check();
        assert_eq!(check(), g);
        assert_eq!(generation(), g);
    }
}
