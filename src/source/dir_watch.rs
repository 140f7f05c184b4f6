//! One `notify` watcher per directory per process, shared by every file source in it.
//!
//! Why the directory and not the file (measured, see the field notes): a watch on the file dies
//! after the first rename over it (`mv tmp api_key`, or Kubernetes swapping `..data`), while a
//! non-recursive watch on the parent directory sees every pattern. Events in a Kubernetes volume
//! name `..data`, never the key file, so any event in the directory means "re-read and compare".
//! Access events are dropped: the source's own reads raise them, which would loop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use notify::{EventKind, RecursiveMode, Watcher};

use super::{ChangeNotifier, Changes};

struct DirWatch {
    notifier: ChangeNotifier,
    // Kept only so the watch lives as long as a subscriber does.
    _watcher: Mutex<notify::RecommendedWatcher>,
}

type Registry = Mutex<HashMap<PathBuf, Weak<DirWatch>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Subscribes to changes in `dir`, starting a watcher if this process has none on it yet.
pub(super) fn subscribe(dir: &Path) -> notify::Result<Changes> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut watches = registry().lock().unwrap_or_else(|p| p.into_inner());
    watches.retain(|_, w| w.strong_count() > 0);
    let watch = match watches.get(&dir).and_then(Weak::upgrade) {
        Some(existing) => existing,
        None => {
            let started = Arc::new(start(&dir)?);
            watches.insert(dir, Arc::downgrade(&started));
            started
        }
    };
    // Each subscriber gets its own receiver of the directory's one sender.
    let rx = watch.notifier.tx.subscribe();
    Ok(Changes {
        rx,
        debounce: std::time::Duration::ZERO,
        _keep_alive: Some(watch),
    })
}

fn start(dir: &Path) -> notify::Result<DirWatch> {
    let (notifier, _unused) = super::changes();
    let on_event = notifier.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => on_event.notify(),
            // An error may mean lost events (queue overflow): re-reading is the safe answer.
            Err(err) => {
                tracing::debug!(error = %err, "file watch error; re-reading");
                on_event.notify();
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(DirWatch {
        notifier,
        _watcher: Mutex::new(watcher),
    })
}
