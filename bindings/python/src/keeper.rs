//! The keeper: one thread per process generation that, every `KEEPER_INTERVAL`, tends the
//! thread runtimes nobody called since its last round (`SyncRuntime::tend`), so that an idle
//! thread's connections closed by the server are released and the pools of closed clients
//! dropped. Without it (the OS refused a thread; the next new thread runtime tries again)
//! requests still work: a caller coming back lets its runtime catch up first; idle threads'
//! pools are then only released when their threads exit.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::fork::{PerProcess, PerProcessRetry};
use crate::sync_runtime::SyncRuntime;

/// How often the keeper tends runtimes nobody called since its last round.
const KEEPER_INTERVAL: Duration = Duration::from_millis(100);

type Registry = Mutex<Vec<Weak<SyncRuntime>>>;

/// Hands a new thread runtime to this generation's keeper (started with the first one; if the
/// OS refused the thread, tried again with the next).
pub(crate) fn register(rt: &Arc<SyncRuntime>) {
    static REGISTRY: PerProcess<Registry> = PerProcess::new();
    static KEEPER: PerProcessRetry<()> = PerProcessRetry::new();
    let registry = REGISTRY.get_or_init_recorded(Registry::default);
    registry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arc::downgrade(rt));
    let registry = Arc::downgrade(&registry);
    let _ = KEEPER.with(
        || {
            std::thread::Builder::new()
                .name("keyswap-keeper".into())
                .spawn(move || keep(registry))
                .map(drop)
        },
        |_| (),
    );
}

fn keep(registry: Weak<Registry>) {
    // (runtime address, its calls) at the last round: unchanged calls mean idle since.
    let mut seen: Vec<(usize, u64)> = Vec::new();
    loop {
        std::thread::sleep(KEEPER_INTERVAL);
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let runtimes: Vec<Arc<SyncRuntime>> = {
            let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
            reg.retain(|w| w.strong_count() > 0);
            reg.iter().filter_map(Weak::upgrade).collect()
        };
        let mut now_seen = Vec::with_capacity(runtimes.len());
        for rt in &runtimes {
            let key = Arc::as_ptr(rt) as usize;
            let calls = rt.calls();
            let idle = !rt.is_active() && seen.contains(&(key, calls));
            now_seen.push((key, calls));
            if idle {
                rt.tend();
            }
        }
        seen = now_seen;
        // A runtime whose thread has exited meanwhile is dropped here, outside `block_on`.
        drop(runtimes);
    }
}
