//! [`Watch`]: a client's background watch (the driver task) and the process it runs in.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A client's background watch (the driver task) and the process generation it runs in.
#[derive(Default)]
pub(crate) struct Watch {
    /// [`crate::fork::generation`] when the driver was started (0: not yet).
    pub(super) generation: AtomicU64,
    pub(super) task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Watch {
    /// Stops the driver (the client is gone).
    pub(crate) fn stop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = task.take() {
            crate::fork::stop_task(self.generation.load(Ordering::Relaxed), handle);
        }
    }
}
