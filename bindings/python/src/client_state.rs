//! What `Client` and `AsyncClient` share: the core's `keyswap::Client` (gone once closed), the
//! settings each runtime's connection pool is built from, the `on_rotate` callbacks and what
//! `repr` shows.

use std::sync::{Arc, RwLock};

use crate::errors::closed_error;
use crate::on_rotate::Callbacks;
use crate::pools::HttpConfig;

pub(crate) struct Inner {
    pub(crate) client: RwLock<Option<keyswap::Client>>,
    /// The settings of the client's `reqwest::Client`, from which each runtime sending its
    /// requests builds its own (see `pools`); dropped on `close`, which lets the runtimes drop
    /// theirs.
    pub(crate) http_config: RwLock<Option<Arc<HttpConfig>>>,
    pub(crate) callbacks: Arc<Callbacks>,
    pub(crate) repr_fields: String,
    /// The client's `max_redirects`: 0 means redirects are returned as they are.
    pub(crate) max_redirects: usize,
    /// With `cert=`: blocking requests run on the shared runtime, through the identity's own
    /// pool (one per certificate), not through per-thread pools.
    pub(crate) mtls: bool,
}

impl Inner {
    /// The core's client; `ClientClosedError` once closed.
    pub(crate) fn client(&self) -> pyo3::PyResult<keyswap::Client> {
        open(&self.client)
    }

    /// The settings of this client's pools; `ClientClosedError` once closed.
    pub(crate) fn http_config(&self) -> pyo3::PyResult<Arc<HttpConfig>> {
        open(&self.http_config)
    }

    /// Installs the client `AsyncClient.create` built.
    pub(crate) fn set_client(&self, client: keyswap::Client) {
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    pub(crate) fn close(&self) {
        // Each dropped after its lock is released (dropping the client ends its watch).
        drop(take(&self.client));
        drop(take(&self.http_config));
    }

    pub(crate) fn repr(&self, class: &str) -> String {
        match &*self.client.read().unwrap_or_else(|p| p.into_inner()) {
            Some(c) => format!(
                "<keyswap.{class} {} credential={:?}>",
                self.repr_fields,
                c.credential_version()
            ),
            None => format!("<keyswap.{class} {} closed>", self.repr_fields),
        }
    }
}

/// The value in `slot`; `ClientClosedError` once taken by `close`.
fn open<T: Clone>(slot: &RwLock<Option<T>>) -> pyo3::PyResult<T> {
    slot.read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(closed_error)
}

/// The value in `slot`, leaving `None`.
fn take<T>(slot: &RwLock<Option<T>>) -> Option<T> {
    slot.write().unwrap_or_else(|p| p.into_inner()).take()
}
