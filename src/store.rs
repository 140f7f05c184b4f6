//! The credential store: the current credential behind an `ArcSwap`, the previous one for the
//! overlap window, and a generation counter that wakes whoever waits for a rotation.
//!
//! Readers (`current`, `previous`) are lock-free: one atomic load. Writers (`offer`) are the
//! watch path and the refresh path; they serialize on a plain mutex that readers never touch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::watch;

use crate::credential::Credential;
use crate::stats::{Counters, RotateHook, Rotation};

pub(crate) struct Previous {
    pub(crate) credential: Arc<Credential>,
    pub(crate) until: Instant,
}

pub(crate) struct Store {
    current: ArcSwap<Credential>,
    previous: ArcSwapOption<Previous>,
    overlap: Duration,
    write: Mutex<()>,
    rotations: watch::Sender<u64>,
    hooks: Vec<RotateHook>,
    source_name: String,
}

/// What `offer` did with a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Unchanged,
    Rotated,
}

impl Store {
    pub(crate) fn new(
        mut initial: Credential,
        overlap: Duration,
        hooks: Vec<RotateHook>,
        source_name: String,
    ) -> Self {
        // A previous credential reported by the source (AWSPREVIOUS) is the only fallback a
        // freshly started client can have: it saw no rotation of its own.
        let seeded = initial.take_previous().map(|credential| {
            Arc::new(Previous {
                credential,
                until: Instant::now() + overlap,
            })
        });
        Store {
            current: ArcSwap::from_pointee(initial),
            previous: ArcSwapOption::new(seeded),
            overlap,
            write: Mutex::new(()),
            rotations: watch::channel(0).0,
            hooks,
            source_name,
        }
    }

    /// The credential requests use now, borrowed: one atomic load, no reference-count traffic.
    /// Not to be held across an `.await`.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Credential>> {
        self.current.load()
    }

    /// The credential requests use now, owned (for the recover path, which awaits).
    pub(crate) fn current(&self) -> Arc<Credential> {
        self.current.load_full()
    }

    /// The credential that was current before the last rotation, while its overlap window lasts.
    pub(crate) fn previous(&self) -> Option<Arc<Credential>> {
        let prev = self.previous.load();
        match prev.as_ref() {
            Some(p) if Instant::now() < p.until => Some(Arc::clone(&p.credential)),
            _ => None,
        }
    }

    /// Forgets the previous credential if it is still `fingerprint`: the server rejected it, so
    /// falling back to it would only waste requests.
    pub(crate) fn retire_previous(&self, fingerprint: u64) {
        let _guard = self
            .write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let prev = self.previous.load();
        if prev
            .as_ref()
            .is_some_and(|p| p.credential.fingerprint() == fingerprint)
        {
            self.previous.store(None);
        }
    }

    /// Subscribes to rotations; the value is a rotation counter.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.rotations.subscribe()
    }

    /// Installs `cred` as current if it differs from the current one (by fingerprint). The caller
    /// has validated it. The replaced credential becomes `previous` for the overlap window.
    pub(crate) fn offer(&self, cred: Credential, counters: &Counters) -> Offered {
        let Some(event) = self.install(cred, counters) else {
            return Offered::Unchanged;
        };
        // Hooks run after the write lock is released: a hook that refreshes or otherwise
        // re-enters the store must not deadlock, and a slow one must not stall other writers.
        for hook in &self.hooks {
            hook(&event);
        }
        Offered::Rotated
    }

    fn install(&self, mut cred: Credential, counters: &Counters) -> Option<Rotation> {
        let _guard = self
            .write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.current.load_full();
        if old.fingerprint() == cred.fingerprint() {
            return None;
        }
        // The source's own "previous" (AWSPREVIOUS) wins over the one this process replaced:
        // when versions were skipped, it is the one the server still honours.
        let reported = cred
            .take_previous()
            .filter(|p| p.fingerprint() != cred.fingerprint());
        let new = Arc::new(cred);
        self.previous.store(Some(Arc::new(Previous {
            credential: reported.unwrap_or_else(|| Arc::clone(&old)),
            until: Instant::now() + self.overlap,
        })));
        self.current.store(Arc::clone(&new));
        counters.rotations.inc();
        tracing::info!(
            source = %self.source_name,
            old_version = %old.version(),
            new_version = %new.version(),
            "credential rotated"
        );
        self.rotations.send_modify(|n| *n += 1);
        Some(Rotation {
            old_version: old.version().to_owned(),
            new_version: new.version().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_rotates_only_on_new_content_and_keeps_previous_for_the_overlap() {
        let counters = Counters::default();
        let store = Store::new(
            Credential::new("a"),
            Duration::from_secs(60),
            vec![],
            "t".into(),
        );
        assert_eq!(
            store.offer(Credential::new("a").with_version("x"), &counters),
            Offered::Unchanged
        );
        assert!(store.previous().is_none());
        assert_eq!(
            store.offer(Credential::new("b"), &counters),
            Offered::Rotated
        );
        assert_eq!(store.current().expose_key(), "b");
        assert_eq!(store.previous().unwrap().expose_key(), "a");
        assert_eq!(counters.rotations.get(), 1);
    }

    #[test]
    fn a_previous_reported_by_the_source_seeds_and_overrides_the_fallback() {
        let counters = Counters::default();
        let seeded = Credential::new("b").with_previous(Credential::new("a"));
        let store = Store::new(seeded, Duration::from_secs(60), vec![], "t".into());
        assert_eq!(store.previous().unwrap().expose_key(), "a");
        assert!(
            store.current().previous().is_none(),
            "kept apart from current"
        );
        let skipped = Credential::new("d").with_previous(Credential::new("c"));
        assert_eq!(store.offer(skipped, &counters), Offered::Rotated);
        assert_eq!(store.previous().unwrap().expose_key(), "c");
        store.offer(Credential::new("e"), &counters);
        assert_eq!(store.previous().unwrap().expose_key(), "d");
    }

    #[test]
    fn hooks_run_outside_the_write_lock() {
        let store_slot: Arc<std::sync::OnceLock<Arc<Store>>> = Arc::default();
        let lock_was_free = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hook: RotateHook = {
            let (slot, free) = (store_slot.clone(), lock_was_free.clone());
            Arc::new(move |_: &Rotation| {
                let store = slot.get().unwrap();
                free.store(
                    store.write.try_lock().is_ok(),
                    std::sync::atomic::Ordering::SeqCst,
                );
            })
        };
        let store = Arc::new(Store::new(
            Credential::new("a"),
            Duration::ZERO,
            vec![hook],
            "t".into(),
        ));
        store_slot.set(store.clone()).ok().unwrap();
        store.offer(Credential::new("b"), &Counters::default());
        assert!(lock_was_free.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn previous_expires_with_the_overlap_window() {
        let counters = Counters::default();
        let store = Store::new(Credential::new("a"), Duration::ZERO, vec![], "t".into());
        store.offer(Credential::new("b"), &counters);
        assert!(store.previous().is_none());
    }
}
