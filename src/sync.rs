//! The synchronization primitives of the credential store and the single-flight, in one place
//! so that a model checker can swap them.
//!
//! A normal build re-exports std's, tokio's and arc-swap's types: nothing changes, and the
//! request path costs what it did. Built with `--cfg keyswap_loom` (only by
//! `scripts/model-check.sh`, for the unit tests named `model`), they are [loom]'s, whose
//! scheduler then runs every interleaving of the threads in a test, weak memory orderings
//! included. arc-swap and tokio's mutex are not loom-aware: in that build they are replaced by
//! small equivalents over loom's mutex, with the same observable behaviour (a linearizable
//! cell; a mutex whose `lock` is a future).
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(keyswap_loom))]
pub(crate) use arc_swap::{ArcSwap, Guard};
#[cfg(not(keyswap_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(keyswap_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(keyswap_loom))]
pub(crate) use tokio::sync::Mutex as AsyncMutex;

#[cfg(keyswap_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(keyswap_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(keyswap_loom)]
pub(crate) use model::{ArcSwap, AsyncMutex, Guard};

#[cfg(keyswap_loom)]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::sync::Arc;
    use std::task::{Poll, Waker};

    use loom::sync::Mutex;

    /// arc-swap's `ArcSwap` as the store uses it: a cell whose loads and stores are atomic.
    pub(crate) struct ArcSwap<T>(Mutex<Arc<T>>);

    /// What [`ArcSwap::load`] returns: the loaded `Arc`, like arc-swap's guard.
    pub(crate) struct Guard<T>(T);

    impl<T> Deref for Guard<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> ArcSwap<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            ArcSwap(Mutex::new(value))
        }

        pub(crate) fn load(&self) -> Guard<Arc<T>> {
            Guard(self.load_full())
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            Arc::clone(&self.0.lock().unwrap())
        }

        pub(crate) fn store(&self, value: Arc<T>) {
            *self.0.lock().unwrap() = value;
        }
    }

    /// tokio's `Mutex` as the single-flight uses it: `lock` is a future, and the guard may be
    /// held across awaits (and sent with its future to another thread). The guard owns the
    /// value while it is held; a waiter registers its waker under the same lock that a release
    /// takes, so no release is missed.
    pub(crate) struct AsyncMutex<T> {
        /// The value while nobody holds it, and who waits for it.
        state: Mutex<(Option<T>, Vec<Waker>)>,
    }

    pub(crate) struct AsyncGuard<'a, T> {
        value: Option<T>,
        mutex: &'a AsyncMutex<T>,
    }

    impl<T> AsyncMutex<T> {
        pub(crate) fn new(value: T) -> Self {
            AsyncMutex {
                state: Mutex::new((Some(value), Vec::new())),
            }
        }

        pub(crate) async fn lock(&self) -> AsyncGuard<'_, T> {
            std::future::poll_fn(|cx| {
                let mut state = self.state.lock().unwrap();
                match state.0.take() {
                    Some(value) => Poll::Ready(AsyncGuard {
                        value: Some(value),
                        mutex: self,
                    }),
                    None => {
                        state.1.push(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await
        }
    }

    impl<T> Deref for AsyncGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.value.as_ref().expect("held until dropped")
        }
    }

    impl<T> DerefMut for AsyncGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.value.as_mut().expect("held until dropped")
        }
    }

    impl<T> Drop for AsyncGuard<'_, T> {
        fn drop(&mut self) {
            let woken = {
                let mut state = self.mutex.state.lock().unwrap();
                state.0 = self.value.take();
                std::mem::take(&mut state.1)
            };
            woken.into_iter().for_each(Waker::wake);
        }
    }
}
