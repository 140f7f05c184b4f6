//! The watch path: a background task per client that re-loads the source when it signals a
//! change (after its debounce) or when its poll interval (jittered ±20 %) elapses.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::client::Shared;
use crate::source::Changes;

enum Trigger {
    Changed,
    Poll,
    SignalClosed,
}

/// Starts the driver if the source has anything to drive it; returns its abort handle.
pub(crate) fn spawn(shared: &Arc<Shared>) -> Option<tokio::task::AbortHandle> {
    let changes = shared.source.0.changes();
    let poll = shared.source.0.poll_interval().filter(|p| !p.is_zero());
    if changes.is_none() && poll.is_none() {
        return None;
    }
    let task = tokio::spawn(run(Arc::downgrade(shared), changes, poll));
    Some(task.abort_handle())
}

async fn run(shared: Weak<Shared>, mut changes: Option<Changes>, poll: Option<Duration>) {
    loop {
        match next_trigger(changes.as_mut(), poll).await {
            Trigger::SignalClosed => {
                changes = None;
                if poll.is_none() {
                    return;
                }
                continue;
            }
            Trigger::Changed | Trigger::Poll => {}
        }
        // The client may be gone; the driver then ends with it.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.reload_in_background().await;
    }
}

async fn next_trigger(changes: Option<&mut Changes>, poll: Option<Duration>) -> Trigger {
    let changed = async {
        match changes {
            Some(changes) => {
                if !changes.changed().await {
                    return Trigger::SignalClosed;
                }
                tokio::time::sleep(changes.debounce()).await;
                changes.mark_seen();
                Trigger::Changed
            }
            None => std::future::pending().await,
        }
    };
    let polled = async {
        match poll {
            Some(interval) => {
                tokio::time::sleep(jittered(interval)).await;
                Trigger::Poll
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        trigger = changed => trigger,
        trigger = polled => trigger,
    }
}

/// `interval` ±20 %, so a fleet of clients does not poll in lockstep.
pub(crate) fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}
