//! The default HTTP client, built once per Tokio runtime and shared by every keyswap client and
//! endpoint source of that runtime that was not given one: building a `reqwest::Client` loads
//! and parses the system's TLS roots, which costs milliseconds and memory per client. Clones
//! share one connection pool.
//!
//! Why per runtime and not per process: a pooled connection is a task of the runtime that
//! opened it. Shared across runtimes (a test suite's `#[tokio::test]`s, a program with a runtime
//! per thread), a request on another runtime may check out a connection whose runtime is
//! shutting down, and fail with "runtime dropped the dispatch task". A runtime's client is
//! forgotten when the runtime shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::{Handle, Id};

use crate::fork::PerProcess;

/// The shared default of the current runtime (outside any runtime: one for the process).
/// reqwest's defaults with redirects off: keyswap follows redirects itself, deciding per hop
/// whether the credential goes along; an endpoint source never follows one.
pub(crate) fn shared_default() -> Result<reqwest::Client, String> {
    let Ok(runtime) = Handle::try_current() else {
        // One per process: a forked child must not share the parent's pooled sockets.
        static OUTSIDE: PerProcess<Result<reqwest::Client, String>> = PerProcess::new();
        return (*OUTSIDE.get_or_init(build)).clone();
    };
    let id = runtime.id();
    if let Some(client) = per_runtime().lock().get(&id) {
        return Ok(client.clone());
    }
    let client = build()?;
    per_runtime().lock().entry(id).or_insert(client.clone());
    // A task that never finishes: dropped when the runtime shuts down, it forgets the client.
    let forget = Forget(id);
    runtime.spawn(async move {
        let _forget = forget;
        std::future::pending::<()>().await
    });
    Ok(client)
}

fn build() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// This process's clients by runtime: a runtime that lived through a fork (a current-thread
/// runtime of the forking thread) gets a new client in the child, without the parent's sockets.
fn per_runtime() -> PerRuntime {
    static CLIENTS: PerProcess<Mutex<HashMap<Id, reqwest::Client>>> = PerProcess::new();
    PerRuntime(CLIENTS.get_or_init(Default::default))
}

struct PerRuntime(Arc<Mutex<HashMap<Id, reqwest::Client>>>);

impl PerRuntime {
    fn lock(&self) -> MutexGuard<'_, HashMap<Id, reqwest::Client>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Forget(Id);

impl Drop for Forget {
    fn drop(&mut self) {
        let forgotten = per_runtime().lock().remove(&self.0);
        // The client (its pool's last handle, maybe) is dropped outside the lock.
        drop(forgotten);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn one_client_per_runtime_forgotten_with_it() {
        let (a, b) = (runtime(), runtime());
        let ids = (a.handle().id(), b.handle().id());
        a.block_on(async { shared_default().unwrap() });
        a.block_on(async { shared_default().unwrap() });
        b.block_on(async { shared_default().unwrap() });
        assert!(
            per_runtime().lock().contains_key(&ids.0) && per_runtime().lock().contains_key(&ids.1)
        );
        drop(a);
        assert!(
            !per_runtime().lock().contains_key(&ids.0),
            "forgotten with its runtime"
        );
        assert!(per_runtime().lock().contains_key(&ids.1));
        drop(b);
        assert!(!per_runtime().lock().contains_key(&ids.1));
    }
}
