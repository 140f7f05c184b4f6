//! The watch path of a client's identity and CA bundle: their files' directories watched
//! (the same shared, per-directory `notify` watch as key files, which survives Kubernetes
//! `..data` swaps and renames), a poll as the fallback, and a re-read ahead of the
//! certificate's `notAfter`, so that an expired certificate is never presented while the
//! source holds a valid one.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::state::Tls;

/// Absorbs the events of one update written in several steps (certificate, then key).
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The shortest wait between two expiry-driven re-reads.
const MIN_EXPIRY_CHECK: Duration = Duration::from_millis(100);
/// How often an expired certificate's source is re-read.
const AFTER_EXPIRY: Duration = Duration::from_secs(1);

/// Starts the background watch of `tls` on keyswap's background runtime (it ends when the
/// client is dropped; a forked child starts its own, see `lifecycle.rs`).
pub(crate) fn spawn(tls: &Arc<Tls>) {
    let (tx, mut rx) = tokio::sync::watch::channel(0u64);
    let signal = Arc::new(tx);
    let mut files = tls.source.files();
    if let Some(trust) = tls.trust.get() {
        files.push(trust.path().to_path_buf());
    }
    let mut watches = Vec::new();
    for file in &files {
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            continue;
        };
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        match crate::source::dir_watch::watch_dir(dir) {
            Ok(watch) => {
                watch.listen(name.to_os_string(), &signal);
                watches.push(watch);
            }
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot watch; polling only");
            }
        }
    }
    let weak: Weak<Tls> = Arc::downgrade(tls);
    let poll = tls.source.poll;
    let task = crate::background::spawn(async move {
        let _keep = (watches, signal);
        loop {
            let wait = {
                let Some(tls) = weak.upgrade() else { return };
                next_check(tls.not_after(), SystemTime::now(), poll)
            };
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    rx.borrow_and_update();
                }
                _ = tokio::time::sleep(wait) => {}
            }
            let Some(tls) = weak.upgrade() else { return };
            let _ = tls.reload().await;
            if let Some(trust) = tls.trust.get() {
                if let Err(why) = trust.reload() {
                    tracing::warn!(error = %why, "keeping the CA bundle in use");
                }
            }
        }
    });
    let task = task.map(|t| (crate::fork::generation(), t));
    let stale = std::mem::replace(
        &mut *tls.watcher.lock().unwrap_or_else(|p| p.into_inner()),
        task,
    );
    // In a forked child the parent's task is not here: forget its handle rather than abort it.
    std::mem::forget(stale);
}

/// When to re-read next without a signal: the poll interval, or sooner as the certificate
/// nears its end — at two thirds of the time left, then again and again as it shrinks (a new
/// certificate is usually written some time before the old one expires), never more often
/// than every 100 ms; once expired, every second (a late renewal is taken within a second even
/// if the watch missed it).
fn next_check(not_after: Option<SystemTime>, now: SystemTime, poll: Duration) -> Duration {
    let Some(end) = not_after else {
        return poll;
    };
    let Ok(left) = end.duration_since(now) else {
        // Never a busy loop, whatever the poll interval (zero included).
        return poll.clamp(MIN_EXPIRY_CHECK, AFTER_EXPIRY);
    };
    (left * 2 / 3).clamp(MIN_EXPIRY_CHECK, poll.max(MIN_EXPIRY_CHECK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_brings_the_next_check_forward() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let poll = Duration::from_secs(10);
        assert_eq!(next_check(None, now, poll), poll);
        let in_an_hour = now + Duration::from_secs(3600);
        assert_eq!(next_check(Some(in_an_hour), now, poll), poll);
        let soon = now + Duration::from_secs(3);
        assert_eq!(next_check(Some(soon), now, poll), Duration::from_secs(2));
        let expired = now - Duration::from_secs(1);
        assert_eq!(next_check(Some(expired), now, poll), AFTER_EXPIRY);
        let nearly = now + Duration::from_millis(30);
        assert_eq!(next_check(Some(nearly), now, poll), MIN_EXPIRY_CHECK);
    }
}
