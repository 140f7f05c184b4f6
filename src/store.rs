//! The credential store: what requests use now behind an `ArcSwap`, the newest credential the
//! source gave, the previous one for the overlap window, and the propagation hold.
//!
//! Readers on the request path (`load`) are lock-free: one atomic load, plus one relaxed flag
//! read that is `false` except during a propagation hold. Everything else (the recover path,
//! the watch path) takes a plain mutex the request path never touches outside a hold.
//!
//! The propagation hold (rotation etiquette): when the newest credential is rejected while the
//! previous one is accepted, the server has not propagated the new key yet. Requests then use
//! the previous credential, and only one request per probe interval tries the newest; the hold
//! ends for good when a probe is accepted, when the previous one is rejected too, or when the
//! hold time (bounded by the overlap window) is over. Rejections stay few instead of one per
//! request.
//!
//! What the store knows about a credential from the server's answers ("rejected", "waited for
//! a rotation") is a fact about one moment, and is re-learned: a request sent after a
//! rejection and accepted clears it ([`Store::accepted`]). So a key refused once by a flaky
//! gateway and accepted again is a good key again: health is fresh, its next rejection is
//! granted a rotation wait, and it stays a fallback at the next rotation. The request path
//! reports acceptances only while there is something to clear (one relaxed flag read).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::credential::Credential;
use crate::stats::{Counters, RotateHook, Rotation};
use crate::sync::{ArcSwap, AtomicBool, AtomicU64, Guard, Mutex, MutexGuard};
use crate::time::Time;

/// The settings of the fallback and the hold (see the builder for each one's meaning).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Etiquette {
    pub(crate) overlap: Duration,
    pub(crate) hold: Duration,
    pub(crate) probe_every: Duration,
}

pub(crate) struct Store {
    /// What requests use now: the newest credential, or the previous one during a hold.
    active: ArcSwap<Credential>,
    /// Set while a hold is on: requests then ask [`Store::probe`] whether to try the newest.
    holding: AtomicBool,
    /// Whether the active credential carries refresh windows (an OAuth2 token): only then does
    /// the request path look at them ([`Store::windowed`]).
    windowed: AtomicBool,
    /// The fingerprint whose acceptance would clear something (a rejection, a rotation wait),
    /// 0 for none: the request path reports acceptances with it ([`Store::accepted`]), and
    /// only those (during a hold, requests accepted with the previous one do not).
    attention: AtomicU64,
    state: Mutex<State>,
    etiquette: Etiquette,
    rotations: watch::Sender<u64>,
    hooks: Vec<RotateHook>,
    source_name: String,
    time: Time,
}

struct State {
    /// The newest credential the source gave (the active one unless a hold is on).
    newest: Arc<Credential>,
    /// When the server's answer rejecting `newest` came, until a request sent after that is
    /// accepted with it. While set, `newest` is no fallback for later and health is failing.
    newest_rejected: Option<Instant>,
    previous: Option<Previous>,
    hold: Option<Hold>,
    /// The one rotation wait granted for a rejected credential, until it is accepted again.
    wait: Option<Wait>,
}

/// A rotation wait: every request that failed with `fingerprint` shares its deadline.
struct Wait {
    fingerprint: u64,
    began: Instant,
    deadline: Instant,
}

impl State {
    /// The fingerprint whose acceptance has something to clear, 0 for none.
    fn attention(&self) -> u64 {
        if self.newest_rejected.is_some() {
            self.newest.fingerprint()
        } else {
            self.wait.as_ref().map_or(0, |w| w.fingerprint)
        }
    }
}

struct Previous {
    credential: Arc<Credential>,
    until: Instant,
    /// The server accepted it after the newest was rejected.
    verified: bool,
}

struct Hold {
    until: Instant,
    next_probe: Instant,
}

/// What `offer` did with a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Unchanged,
    Rotated,
    /// The source went back to the credential it replaced: refused, versions only move forward.
    WentBack,
    /// The same credential with a new expiry or version label (a renewed lease, a re-signed
    /// token): taken in place, not a rotation.
    Renewed,
}

impl Store {
    pub(crate) fn new(
        mut initial: Credential,
        etiquette: Etiquette,
        hooks: Vec<RotateHook>,
        source_name: String,
        time: Time,
    ) -> Self {
        // A previous credential reported by the source (AWSPREVIOUS) is the only fallback a
        // freshly started client can have: it saw no rotation of its own.
        let previous = initial.take_previous().map(|credential| Previous {
            credential,
            until: time.after(etiquette.overlap),
            verified: false,
        });
        let initial = Arc::new(initial);
        Store {
            active: ArcSwap::new(Arc::clone(&initial)),
            holding: AtomicBool::new(false),
            windowed: AtomicBool::new(initial.refresh_windows().is_some()),
            attention: AtomicU64::new(0),
            state: Mutex::new(State {
                newest: initial,
                newest_rejected: None,
                previous,
                hold: None,
                wait: None,
            }),
            etiquette,
            rotations: watch::channel(0).0,
            hooks,
            source_name,
            time,
        }
    }

    /// A store with nothing loaded yet (a lazily built client): a placeholder that no request
    /// uses, replaced by [`Store::initialize`].
    pub(crate) fn unloaded(
        etiquette: Etiquette,
        hooks: Vec<RotateHook>,
        source_name: String,
        time: Time,
    ) -> Self {
        Store::new(Credential::new(""), etiquette, hooks, source_name, time)
    }

    /// Installs the first credential: no rotation, no hooks, no previous of this process's.
    pub(crate) fn initialize(&self, mut first: Credential) {
        let mut state = self.state();
        state.previous = first.take_previous().map(|credential| Previous {
            credential,
            until: self.time.after(self.etiquette.overlap),
            verified: false,
        });
        let first = Arc::new(first);
        state.newest = Arc::clone(&first);
        state.newest_rejected = None;
        state.wait = None;
        self.set_active(first);
        self.settle(&state);
    }

    /// Makes `credential` the one requests use, and keeps [`Store::windowed`] in step with it.
    fn set_active(&self, credential: Arc<Credential>) {
        self.windowed
            .store(credential.refresh_windows().is_some(), Ordering::Relaxed);
        self.active.store(credential);
    }

    /// Whether the credential requests use carries refresh windows: one relaxed load, `false`
    /// for every credential but short-lived tokens.
    #[inline]
    pub(crate) fn windowed(&self) -> bool {
        self.windowed.load(Ordering::Relaxed)
    }

    /// Keeps the request path's view in step with the state (called with the lock held).
    fn settle(&self, state: &State) {
        self.attention.store(state.attention(), Ordering::Relaxed);
    }

    /// Whether the request path should report an acceptance with `fingerprint`
    /// ([`Store::accepted`]): one relaxed load; `false` unless the server rejected that
    /// credential (or a rotation wait was granted for it) since it last accepted it.
    #[inline]
    pub(crate) fn attends(&self, fingerprint: u64) -> bool {
        self.attention.load(Ordering::Relaxed) == fingerprint
    }

    /// The deadline of the rotation wait for the rejected credential `fingerprint`, and
    /// whether this call granted it. One wait per rejection episode: every request that failed
    /// with it shares the deadline, and once it has passed they fail fast — until the
    /// credential is accepted again ([`Store::accepted`]), which ends the episode.
    pub(crate) fn rotation_wait(&self, fingerprint: u64, wait: Duration) -> (Instant, bool) {
        let mut state = self.state();
        if let Some(w) = state.wait.as_ref().filter(|w| w.fingerprint == fingerprint) {
            return (w.deadline, false);
        }
        let began = self.time.now();
        let deadline = self.time.after(wait);
        state.wait = Some(Wait {
            fingerprint,
            began,
            deadline,
        });
        self.settle(&state);
        (deadline, true)
    }

    /// Whether the server rejected the credential requests use now and the source has nothing
    /// newer (outside a hold, which uses an accepted one).
    pub(crate) fn active_rejected(&self) -> bool {
        let state = self.state();
        state.newest_rejected.is_some() && state.hold.is_none()
    }

    /// The credential with this fingerprint, if the store still holds it (current, newest or
    /// previous).
    pub(crate) fn find(&self, fingerprint: u64) -> Option<Arc<Credential>> {
        let active = self.active.load_full();
        if active.fingerprint() == fingerprint {
            return Some(active);
        }
        let state = self.state();
        if state.newest.fingerprint() == fingerprint {
            return Some(Arc::clone(&state.newest));
        }
        state
            .previous
            .as_ref()
            .map(|p| Arc::clone(&p.credential))
            .filter(|c| c.fingerprint() == fingerprint)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credential requests use now, borrowed: one atomic load, no reference-count traffic.
    /// Not to be held across an `.await`.
    pub(crate) fn load(&self) -> Guard<Arc<Credential>> {
        self.active.load()
    }

    /// The credential requests use now, owned (for the recover path, which awaits).
    pub(crate) fn current(&self) -> Arc<Credential> {
        self.active.load_full()
    }

    /// Whether a hold is on; when it is, [`Store::probe`] may pick the newest credential.
    #[inline]
    pub(crate) fn holding(&self) -> bool {
        self.holding.load(Ordering::Relaxed)
    }

    /// During a hold: the newest credential when this request is the probe (at most one per
    /// probe interval), else `None`. Ends a hold whose time is over. Never blocks: a request
    /// that finds the state busy just uses the active credential.
    pub(crate) fn probe(&self) -> Option<Arc<Credential>> {
        let mut state = self.state.try_lock().ok()?;
        let hold = state.hold.as_mut()?;
        let now = self.time.now();
        if now >= hold.until {
            tracing::info!(source = %self.source_name, "propagation hold over; using the newest credential");
            self.end_hold(&mut state);
            return None;
        }
        if now < hold.next_probe {
            return None;
        }
        hold.next_probe = now
            .checked_add(self.etiquette.probe_every)
            .unwrap_or(hold.until);
        Some(Arc::clone(&state.newest))
    }

    /// The server accepted a request made with `fingerprint` and sent at `sent`. What the
    /// store learned about that credential from answers that came before `sent` no longer
    /// holds: its rejection, its rotation wait, a hold on the previous one.
    pub(crate) fn accepted(&self, fingerprint: u64, sent: Instant) {
        let mut state = self.state();
        if state
            .wait
            .as_ref()
            .is_some_and(|w| w.fingerprint == fingerprint && sent >= w.began)
        {
            state.wait = None;
        }
        if state.newest.fingerprint() == fingerprint {
            if state.newest_rejected.is_some_and(|at| sent >= at) {
                tracing::info!(source = %self.source_name, version = %state.newest.version(), "the credential is accepted again after a rejection");
                state.newest_rejected = None;
            }
            if state.hold.is_some() {
                tracing::info!(source = %self.source_name, version = %state.newest.version(), "the newest credential is accepted now; hold over");
                self.end_hold(&mut state);
            }
        }
        self.settle(&state);
    }

    /// The server rejected a request made with `fingerprint`; its answer came at `at`. A
    /// rejected previous credential is retired (no later request tries it again); if it was in
    /// use during a hold, the hold ends.
    pub(crate) fn rejected(&self, fingerprint: u64, at: Instant) {
        let mut state = self.state();
        if state.newest.fingerprint() == fingerprint {
            // The latest rejection counts: an acceptance must be newer than it to clear it.
            state.newest_rejected = Some(state.newest_rejected.map_or(at, |t| t.max(at)));
            self.settle(&state);
            return;
        }
        let is_previous = state
            .previous
            .as_ref()
            .is_some_and(|p| p.credential.fingerprint() == fingerprint);
        if is_previous {
            state.previous = None;
            if state.hold.is_some() {
                tracing::info!(source = %self.source_name, "the previous credential is rejected too; hold over");
                self.end_hold(&mut state);
            }
        }
    }

    /// The previous credential while its overlap window lasts, and whether the server has
    /// accepted it since the newest was rejected.
    pub(crate) fn previous(&self) -> Option<(Arc<Credential>, bool)> {
        let state = self.state();
        let prev = state.previous.as_ref()?;
        (self.time.now() < prev.until).then(|| (Arc::clone(&prev.credential), prev.verified))
    }

    /// The previous credential (`fingerprint`) was accepted where the newest was rejected: the
    /// server has not propagated the newest yet. Requests use the previous one for the hold.
    pub(crate) fn hold_on_previous(&self, fingerprint: u64) {
        let mut state = self.state();
        let Some(prev) = state
            .previous
            .as_mut()
            .filter(|p| p.credential.fingerprint() == fingerprint)
        else {
            return;
        };
        prev.verified = true;
        let (credential, prev_until) = (Arc::clone(&prev.credential), prev.until);
        if state.hold.is_some() || state.newest_rejected.is_none() || self.etiquette.hold.is_zero()
        {
            return;
        }
        let now = self.time.now();
        let until = self.time.after(self.etiquette.hold).min(prev_until);
        state.hold = Some(Hold {
            until,
            next_probe: now.checked_add(self.etiquette.probe_every).unwrap_or(until),
        });
        tracing::info!(
            source = %self.source_name,
            newest = %state.newest.version(),
            previous = %credential.version(),
            "the newest credential is rejected and the previous accepted; holding on the previous while the server propagates"
        );
        self.set_active(credential);
        self.holding.store(true, Ordering::Relaxed);
        self.rotations.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn end_hold(&self, state: &mut State) {
        state.hold = None;
        self.set_active(Arc::clone(&state.newest));
        self.holding.store(false, Ordering::Relaxed);
        self.rotations.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribes to changes of the active credential; the value is a change counter.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.rotations.subscribe()
    }

    /// Installs `cred` as the newest if it differs from it (by fingerprint). The caller has
    /// validated it. The replaced credential becomes the previous one for the overlap window.
    pub(crate) fn offer(&self, cred: Credential, counters: &Counters) -> Offered {
        let event = match self.install(cred, counters) {
            Ok(event) => event,
            Err(offered) => return offered,
        };
        // Hooks run after the lock is released: a hook that refreshes or otherwise re-enters
        // the store must not deadlock, and a slow one must not stall other writers. A hook
        // that panics is caught: background work must not die of it.
        for hook in &self.hooks {
            let run = std::panic::AssertUnwindSafe(|| hook(&event));
            if std::panic::catch_unwind(run).is_err() {
                counters.background_failures.inc();
                tracing::error!(source = %self.source_name, "an on_rotate hook panicked; continuing");
            }
        }
        Offered::Rotated
    }

    /// The source gave the newest credential again. With a new expiry or version label (a
    /// renewed lease, a re-signed token) it replaces the newest in place: the renewal is news
    /// (health, the expiry refresh) though the key is the same. Nothing else changes: no
    /// rotation, the previous and a hold stay as they are.
    fn renew(&self, state: &mut State, mut cred: Credential) -> Offered {
        let old = &state.newest;
        if old.expires_at() == cred.expires_at() && old.version() == cred.version() {
            return Offered::Unchanged;
        }
        // A source-reported previous matters only on a rotation.
        drop(cred.take_previous());
        tracing::info!(
            source = %self.source_name,
            version = %cred.version(),
            old_version = %old.version(),
            "credential renewed (same key, new expiry or version)"
        );
        let renewed = Arc::new(cred);
        if self.active.load().fingerprint() == renewed.fingerprint() {
            self.set_active(Arc::clone(&renewed));
        }
        state.newest = renewed;
        Offered::Renewed
    }

    fn install(&self, mut cred: Credential, counters: &Counters) -> Result<Rotation, Offered> {
        let mut state = self.state();
        let old = Arc::clone(&state.newest);
        if old.fingerprint() == cred.fingerprint() {
            return Err(self.renew(&mut state, cred));
        }
        let went_back = state.previous.as_ref().is_some_and(|p| {
            p.credential.fingerprint() == cred.fingerprint() && self.time.now() < p.until
        });
        // Versions only move forward: a source flipping back to the credential it replaced is
        // not followed, unless the newest can no longer be used at all.
        if went_back && state.newest_rejected.is_none() && old.validate().is_ok() {
            tracing::warn!(
                source = %self.source_name,
                newest = %old.version(),
                offered = %cred.version(),
                "the source went back to the credential it replaced; keeping the newest"
            );
            return Err(Offered::WentBack);
        }
        // The source's own "previous" (AWSPREVIOUS) wins over the one this process replaced:
        // when versions were skipped, it is the one the server still honours. A replaced
        // credential the server had rejected is no fallback; during a hold, the previous one
        // the server accepted stays the fallback.
        let reported = cred
            .take_previous()
            .filter(|p| p.fingerprint() != cred.fingerprint());
        let verified = state.previous.take().filter(|p| p.verified);
        state.previous = match (reported, verified) {
            (Some(credential), _) => Some(Previous {
                credential,
                until: self.time.after(self.etiquette.overlap),
                verified: false,
            }),
            (None, Some(verified)) if state.newest_rejected.is_some() => Some(verified),
            (None, _) if state.newest_rejected.is_some() => None,
            (None, _) => Some(Previous {
                credential: Arc::clone(&old),
                until: self.time.after(self.etiquette.overlap),
                verified: false,
            }),
        };
        let new = Arc::new(cred);
        state.newest = Arc::clone(&new);
        state.newest_rejected = None;
        state.hold = None;
        self.set_active(Arc::clone(&new));
        self.holding.store(false, Ordering::Relaxed);
        self.settle(&state);
        counters.rotations.inc();
        tracing::info!(
            source = %self.source_name,
            old_version = %old.version(),
            new_version = %new.version(),
            "credential rotated"
        );
        self.rotations.send_modify(|n| *n = n.wrapping_add(1));
        Ok(Rotation {
            old_version: old.version().to_owned(),
            new_version: new.version().to_owned(),
        })
    }
}

#[cfg(all(test, keyswap_loom))]
mod model;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ManualTime, TimeSource};

    fn etiquette(overlap: Duration) -> Etiquette {
        Etiquette {
            overlap,
            hold: Duration::from_secs(10),
            probe_every: Duration::from_millis(200),
        }
    }

    fn store(key: &str, overlap: Duration) -> Store {
        Store::new(
            Credential::new(key),
            etiquette(overlap),
            vec![],
            "t".into(),
            Time::default(),
        )
    }

    #[test]
    fn offer_rotates_only_on_new_content_and_keeps_previous_for_the_overlap() {
        let counters = Counters::default();
        let store = store("a", Duration::from_secs(60));
        assert_eq!(
            store.offer(Credential::new("a"), &counters),
            Offered::Unchanged
        );
        assert_eq!(
            store.offer(Credential::new("a").with_version("x"), &counters),
            Offered::Renewed,
            "a new label on the same key is taken, as a renewal"
        );
        assert_eq!(store.current().version(), "x");
        assert!(store.previous().is_none());
        assert_eq!(counters.rotations.get(), 0);
        assert_eq!(
            store.offer(Credential::new("b"), &counters),
            Offered::Rotated
        );
        assert_eq!(store.current().expose_key(), "b");
        assert_eq!(store.previous().unwrap().0.expose_key(), "a");
        assert_eq!(counters.rotations.get(), 1);
    }

    #[test]
    fn a_previous_reported_by_the_source_seeds_and_overrides_the_fallback() {
        let counters = Counters::default();
        let seeded = Credential::new("b").with_previous(Credential::new("a"));
        let store = Store::new(
            seeded,
            etiquette(Duration::from_secs(60)),
            vec![],
            "t".into(),
            Time::default(),
        );
        assert_eq!(store.previous().unwrap().0.expose_key(), "a");
        assert!(
            store.current().previous().is_none(),
            "kept apart from current"
        );
        let skipped = Credential::new("d").with_previous(Credential::new("c"));
        assert_eq!(store.offer(skipped, &counters), Offered::Rotated);
        assert_eq!(store.previous().unwrap().0.expose_key(), "c");
        store.offer(Credential::new("e"), &counters);
        assert_eq!(store.previous().unwrap().0.expose_key(), "d");
    }

    #[test]
    fn hooks_run_outside_the_lock_and_a_panicking_hook_is_caught() {
        let store_slot: Arc<std::sync::OnceLock<Arc<Store>>> = Arc::default();
        let lock_was_free = Arc::new(AtomicBool::new(false));
        let free_hook: RotateHook = {
            let (slot, free) = (store_slot.clone(), lock_was_free.clone());
            Arc::new(move |_: &Rotation| {
                let store = slot.get().unwrap();
                free.store(store.state.try_lock().is_ok(), Ordering::SeqCst);
            })
        };
        let panicking: RotateHook = Arc::new(|_: &Rotation| panic!("hook bug"));
        let store = Arc::new(Store::new(
            Credential::new("a"),
            etiquette(Duration::ZERO),
            vec![panicking, free_hook],
            "t".into(),
            Time::default(),
        ));
        store_slot.set(store.clone()).ok().unwrap();
        let counters = Counters::default();
        assert_eq!(
            store.offer(Credential::new("b"), &counters),
            Offered::Rotated
        );
        assert!(
            lock_was_free.load(Ordering::SeqCst),
            "later hooks still ran"
        );
        assert_eq!(counters.background_failures.get(), 1);
    }

    #[test]
    fn previous_expires_with_the_overlap_window() {
        let counters = Counters::default();
        let store = store("a", Duration::ZERO);
        store.offer(Credential::new("b"), &counters);
        assert!(store.previous().is_none());
    }

    #[test]
    fn settings_as_large_as_duration_max_do_not_overflow() {
        let counters = Counters::default();
        let store = Store::new(
            Credential::new("a"),
            Etiquette {
                overlap: Duration::MAX,
                hold: Duration::MAX,
                probe_every: Duration::MAX,
            },
            vec![],
            "t".into(),
            Time::default(),
        );
        store.offer(Credential::new("b"), &counters);
        let b = store.current().fingerprint();
        store.rejected(b, Instant::now());
        let a = store.previous().unwrap().0.fingerprint();
        store.hold_on_previous(a);
        assert!(store.holding());
        assert!(
            store.probe().is_none(),
            "the first probe is an interval away"
        );
    }

    #[test]
    fn the_source_going_back_is_refused_unless_the_newest_is_rejected() {
        let counters = Counters::default();
        let store = store("a", Duration::from_secs(60));
        store.offer(Credential::new("b"), &counters);
        assert_eq!(
            store.offer(Credential::new("a"), &counters),
            Offered::WentBack
        );
        assert_eq!(store.current().expose_key(), "b");
        store.rejected(store.current().fingerprint(), Instant::now());
        assert_eq!(
            store.offer(Credential::new("a"), &counters),
            Offered::Rotated
        );
        assert_eq!(store.current().expose_key(), "a");
    }

    #[test]
    fn a_hold_uses_the_previous_probes_at_a_bounded_rate_and_ends_on_acceptance() {
        let counters = Counters::default();
        let manual = ManualTime::new();
        let time = Time::new(Arc::new(manual.clone()), Arc::new(manual.clone()));
        let store = Store::new(
            Credential::new("a"),
            Etiquette {
                overlap: Duration::from_secs(60),
                hold: Duration::from_secs(60),
                probe_every: Duration::from_millis(50),
            },
            vec![],
            "t".into(),
            time,
        );
        store.offer(Credential::new("b"), &counters);
        let (a, b) = (
            Credential::new("a").fingerprint(),
            Credential::new("b").fingerprint(),
        );
        store.rejected(b, Instant::now());
        store.hold_on_previous(a);
        assert_eq!(
            store.current().fingerprint(),
            a,
            "requests use the previous"
        );
        assert!(store.probe().is_none());
        manual.advance(Duration::from_millis(49));
        assert!(store.probe().is_none(), "the first probe is 50 ms away");
        manual.advance(Duration::from_millis(1));
        assert_eq!(store.probe().unwrap().fingerprint(), b, "one probe");
        manual.advance(Duration::from_millis(49));
        assert!(store.probe().is_none(), "not two in the same interval");
        manual.advance(Duration::from_millis(1));
        assert_eq!(store.probe().unwrap().fingerprint(), b, "the next one");
        store.accepted(b, Instant::now());
        assert!(!store.holding());
        assert_eq!(store.current().fingerprint(), b);
        assert_eq!(
            store.previous().unwrap().0.fingerprint(),
            a,
            "still the fallback"
        );
    }

    #[test]
    fn a_rejected_newest_is_no_fallback_after_the_next_rotation() {
        let counters = Counters::default();
        let store = store("a", Duration::from_secs(60));
        store.offer(Credential::new("b"), &counters);
        store.rejected(Credential::new("a").fingerprint(), Instant::now());
        assert!(store.previous().is_none(), "a rejected previous is retired");
        store.rejected(Credential::new("b").fingerprint(), Instant::now());
        store.offer(Credential::new("c"), &counters);
        assert!(
            store.previous().is_none(),
            "b was revoked: no fallback to it"
        );
    }

    #[test]
    fn an_acceptance_sent_after_a_rejection_clears_it_and_its_wait() {
        let counters = Counters::default();
        let manual = ManualTime::new();
        let time = Time::new(Arc::new(manual.clone()), Arc::new(manual.clone()));
        let store = Store::new(
            Credential::new("a"),
            etiquette(Duration::from_secs(60)),
            vec![],
            "t".into(),
            time,
        );
        let a = Credential::new("a").fingerprint();
        let before = manual.now();
        manual.advance(Duration::from_millis(10));
        store.rejected(a, manual.now());
        let (deadline, granted) = store.rotation_wait(a, Duration::from_secs(1));
        assert!(granted);
        assert!(store.attends(a) && store.active_rejected());
        assert_eq!(
            store.rotation_wait(a, Duration::from_secs(1)),
            (deadline, false),
            "one wait per episode"
        );

        // Sent before the rejection came: it says nothing newer.
        store.accepted(a, before);
        assert!(store.active_rejected());
        assert!(!store.rotation_wait(a, Duration::from_secs(1)).1);

        manual.advance(Duration::from_millis(10));
        store.accepted(a, manual.now());
        assert!(!store.active_rejected(), "a good key again");
        assert!(
            !store.attends(a),
            "nothing left to clear: the request path stays quiet"
        );
        manual.advance(Duration::from_secs(5));
        store.rejected(a, manual.now());
        let (again, granted) = store.rotation_wait(a, Duration::from_secs(1));
        assert!(
            granted && again > deadline,
            "a later rejection gets a wait of its own"
        );

        // ...and it stays the fallback at the next rotation once accepted again.
        manual.advance(Duration::from_millis(10));
        store.accepted(a, manual.now());
        store.offer(Credential::new("b"), &counters);
        assert_eq!(store.previous().unwrap().0.fingerprint(), a);
    }

    #[test]
    fn a_renewal_updates_expiry_and_version_without_rotating() {
        let counters = Counters::default();
        let soon = std::time::SystemTime::now() + Duration::from_secs(60);
        let later = soon + Duration::from_secs(3600);
        let store = Store::new(
            Credential::new("a")
                .with_version("lease-1")
                .with_expiry(soon),
            etiquette(Duration::from_secs(60)),
            vec![],
            "t".into(),
            Time::default(),
        );
        assert_eq!(
            store.offer(
                Credential::new("a")
                    .with_version("lease-1")
                    .with_expiry(soon),
                &counters
            ),
            Offered::Unchanged
        );
        assert_eq!(
            store.offer(
                Credential::new("a")
                    .with_version("lease-2")
                    .with_expiry(later),
                &counters
            ),
            Offered::Renewed
        );
        let now = store.current();
        assert_eq!((now.version(), now.expires_at()), ("lease-2", Some(later)));
        assert!(store.previous().is_none(), "no rotation: no fallback");
        assert_eq!(counters.rotations.get(), 0);
    }
}
