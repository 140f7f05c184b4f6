//! keyswap's own background runtime: one thread per process running every client's watch
//! (the driver), the shared poll tickers of file and endpoint sources, and their loads.
//!
//! Why not the caller's runtime: background work spawned on whichever runtime first asked dies
//! silently with it (a test's runtime, a worker thread's runtime, a Python event loop's), while
//! the other clients of the same file or endpoint rely on it. This runtime lives as long as
//! the process, and a forked child gets its own on first use (see [`crate::fork`]).
//!
//! A current-thread runtime on one thread: background work is waiting (timers, change
//! signals) and short loads; key-file reads run on the reader threads, not here.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::fork::PerProcess;

struct Background {
    handle: Handle,
}

/// `None` when the OS refused the runtime or its thread (out of file descriptors or threads):
/// background work then runs on the caller's runtime, as it did before this one existed.
static BACKGROUND: PerProcess<Option<Background>> = PerProcess::new();

/// Runs `task` on this process's background runtime (started on first use), or on the
/// caller's runtime when it could not be started. `None` outside any runtime then.
pub(crate) fn spawn<F>(task: F) -> Option<AbortHandle>
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = match BACKGROUND.get_or_init(start).as_ref() {
        Some(background) => background.handle.clone(),
        None => Handle::try_current().ok()?,
    };
    Some(handle.spawn(task).abort_handle())
}

fn start() -> Option<Background> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .inspect_err(|err| tracing::error!(error = %err, "cannot build keyswap's background runtime; background work runs on the caller's runtime"))
        .ok()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("keyswap-background".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .inspect_err(|err| tracing::error!(error = %err, "cannot start keyswap's background thread; background work runs on the caller's runtime"))
        .ok()?;
    Some(Background { handle })
}
