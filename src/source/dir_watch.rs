//! One `notify` watcher per directory per process, shared by every file source in it, and
//! dispatching each event only to the files it names.
//!
//! Why the directory and not the file (measured, see the field notes): a watch on the file dies
//! after the first rename over it (`mv tmp api_key`, or Kubernetes swapping `..data`), while a
//! non-recursive watch on the parent directory sees every pattern.
//!
//! Why dispatch by name: a directory holding ten thousand tenants' key files must not re-read
//! all of them when one changes. An event naming a file goes to that file's listeners only.
//! Events that may concern every file go to all: events in a Kubernetes volume name `..data`
//! (never the key file, which is a symlink through it), an event without a path, and a watch
//! error (a full queue may have lost events). Access events are dropped — the sources' own reads
//! raise them, which would loop — except a writer closing the file (`IN_CLOSE_WRITE`, never
//! raised by a read): it says a write in place is complete. Between a write in place and its
//! close the file's signal says a writer is at work, so a load can wait it out instead of
//! taking a half.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::watch;

use crate::fork::PerProcess;

/// What listens to a directory for one file name: a signal bumped on each relevant event.
pub(crate) type Signal = watch::Sender<u64>;

pub(crate) struct DirWatch {
    listeners: Arc<Mutex<HashMap<OsString, Vec<Weak<Signal>>>>>,
    // Kept only so the watch lives as long as a listener does.
    _watcher: Mutex<notify::RecommendedWatcher>,
}

type Registry = Mutex<HashMap<PathBuf, Weak<DirWatch>>>;

/// This process's watches: a forked child starts its own (the parent's watcher threads are not
/// there, and asking one of them to watch would wait forever).
fn registry() -> Arc<Registry> {
    static REGISTRY: PerProcess<Registry> = PerProcess::new();
    REGISTRY.get_or_init(Default::default)
}

/// The directory's watch, started if this process has none on it yet.
pub(crate) fn watch_dir(dir: &Path) -> notify::Result<Arc<DirWatch>> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let registry = registry();
    let mut watches = registry.lock().unwrap_or_else(|p| p.into_inner());
    watches.retain(|_, w| w.strong_count() > 0);
    if let Some(existing) = watches.get(&dir).and_then(Weak::upgrade) {
        return Ok(existing);
    }
    let started = Arc::new(start(&dir)?);
    watches.insert(dir, Arc::downgrade(&started));
    Ok(started)
}

impl DirWatch {
    /// Bumps `signal` on every event naming `name` and on every event that may concern all
    /// files. The registration lasts as long as `signal` does.
    pub(crate) fn listen(&self, name: OsString, signal: &Arc<Signal>) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        let entry = listeners.entry(name).or_default();
        entry.retain(|w| w.strong_count() > 0);
        entry.push(Arc::downgrade(signal));
    }
}

fn start(dir: &Path) -> notify::Result<DirWatch> {
    let listeners: Arc<Mutex<HashMap<OsString, Vec<Weak<Signal>>>>> = Arc::default();
    let dispatch = Arc::clone(&listeners);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Whether the change cannot have left a half-written file behind: a rename into place,
        // a removal, or any step of a Kubernetes volume update (names starting with `..`: the
        // kubelet writes a new directory, then swaps `..data` by rename). Writes in place are
        // not, nor is a creation (a writer may still be filling the new file).
        // A writer closing the file is done with it: what it wrote is complete.
        let closed = matches!(
            &res,
            Ok(e) if e.kind == EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        let atomic = closed
            || matches!(
                &res,
                Ok(e) if matches!(
                    e.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) || (!e.paths.is_empty() && e.paths.iter().all(|p| {
                    p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b".."))
                }))
            );
        // Written in place (or created) and not closed yet: a writer is at work.
        let writing = !atomic
            && matches!(
                &res,
                Ok(e) if matches!(
                    e.kind,
                    EventKind::Create(_)
                        | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
                )
            );
        let names: Option<Vec<OsString>> = match res {
            Ok(event) if matches!(event.kind, EventKind::Access(_)) && !closed => return,
            Ok(event) => {
                let names: Vec<OsString> = event
                    .paths
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
                    .collect();
                let everyone = names.is_empty()
                    || names
                        .iter()
                        .any(|n| n.as_encoded_bytes().starts_with(b".."));
                (!everyone).then_some(names)
            }
            // An error may mean lost events (queue overflow): every file re-reads.
            Err(err) => {
                tracing::debug!(error = %err, "file watch error; re-reading every file");
                None
            }
        };
        let mut listeners = dispatch.lock().unwrap_or_else(|p| p.into_inner());
        let bump = |signals: &mut Vec<Weak<Signal>>| {
            signals.retain(|w| match w.upgrade() {
                Some(signal) => {
                    super::change_signal::signal_write(&signal, atomic, writing);
                    true
                }
                None => false,
            });
        };
        match names {
            Some(names) => {
                for name in names {
                    if let Some(signals) = listeners.get_mut(&name) {
                        bump(signals);
                    }
                }
            }
            None => listeners.values_mut().for_each(bump),
        }
        listeners.retain(|_, signals| !signals.is_empty());
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(DirWatch {
        listeners,
        _watcher: Mutex::new(watcher),
    })
}
