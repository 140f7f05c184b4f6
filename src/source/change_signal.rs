//! [`Changes`] and [`ChangeNotifier`]: how a source says its credential may have changed.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The receiving half of a change signal: see [`changes`].
pub struct Changes {
    pub(super) rx: watch::Receiver<u64>,
    pub(super) debounce: Duration,
    // Whatever produces the signal (a shared directory watcher) lives as long as this does.
    pub(super) _keep_alive: Option<Arc<dyn Any + Send + Sync>>,
}

/// The sending half of a change signal: see [`changes`].
#[derive(Clone)]
pub struct ChangeNotifier {
    pub(crate) tx: Arc<watch::Sender<u64>>,
}

/// Creates a change signal for a custom source: keep the [`ChangeNotifier`], return the
/// [`Changes`] from [`CredentialSource::changes`](crate::CredentialSource::changes), call [`ChangeNotifier::notify`] when the
/// credential may have changed. Signals that arrive while a re-load is pending are coalesced.
pub fn changes() -> (ChangeNotifier, Changes) {
    let (tx, rx) = watch::channel(0);
    (
        ChangeNotifier { tx: Arc::new(tx) },
        Changes {
            rx,
            debounce: Duration::ZERO,
            _keep_alive: None,
        },
    )
}

impl ChangeNotifier {
    /// Signals that the credential may have changed.
    pub fn notify(&self) {
        signal(&self.tx, false);
    }
}

/// Bumps a change signal. Its value counts in steps of four; the low bit says whether the last
/// change was atomic (a file renamed into place, a Kubernetes `..data` swap, a writer closing
/// the file): such content cannot be read half-written, so the driver skips the debounce for
/// it.
pub(crate) fn signal(tx: &watch::Sender<u64>, atomic: bool) {
    signal_write(tx, atomic, false);
}

/// [`signal`], also saying whether a writer is at work in place (bit 1: the file was modified
/// and its writer has not closed it yet).
pub(crate) fn signal_write(tx: &watch::Sender<u64>, atomic: bool, writing: bool) {
    tx.send_modify(|n| {
        *n = (n.wrapping_add(4) & !3) | u64::from(atomic) | (u64::from(writing) << 1);
    });
}

/// Whether a signal's value says a writer is at work in place (see [`signal_write`]).
pub(crate) fn writing(value: u64) -> bool {
    value & 2 != 0
}

impl Changes {
    /// Whether the last change signalled was atomic (see [`signal`]).
    pub(crate) fn atomic(&self) -> bool {
        *self.rx.borrow() & 1 == 1
    }

    /// Waits this long after a signal, absorbing further signals, before the client re-loads:
    /// a file written in several steps is then read once, complete. Default: zero.
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    pub(crate) fn debounce(&self) -> Duration {
        self.debounce
    }

    /// Waits for the next signal; `false` once the sender is gone.
    pub(crate) async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Marks every signal so far as handled (the debounce window's coalescing).
    pub(crate) fn mark_seen(&mut self) {
        self.rx.mark_unchanged();
    }
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes")
            .field("debounce", &self.debounce)
            .finish()
    }
}

impl fmt::Debug for ChangeNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotifier").finish_non_exhaustive()
    }
}
