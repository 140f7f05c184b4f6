//! [`CredentialSource`]: what a source of credentials implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::change_signal::Changes;
use crate::credential::Credential;
use crate::error::Result;

/// A boxed, `Send` future, as returned by [`CredentialSource::load`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where credentials come from. Implement it to feed keyswap from anything.
///
/// ```
/// use keyswap::{BoxFuture, Credential, CredentialSource, Error};
///
/// struct FromMyVault;
///
/// impl CredentialSource for FromMyVault {
///     fn name(&self) -> String {
///         "my-vault:payments".into() // shown in errors and logs: no secrets here
///     }
///     fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
///         Box::pin(async {
///             // fetch from your store; report failures with Error::source
///             Ok(Credential::new("key-from-vault").with_version("42"))
///         })
///     }
/// }
/// ```
pub trait CredentialSource: Send + Sync + 'static {
    /// A name for errors and logs, such as `file:/run/secrets/api_key`. Never a secret.
    fn name(&self) -> String;

    /// Produces the credential the source holds now. Called at build time, by the refresh path
    /// after an authentication failure, and by the background driver when
    /// [`changes`](CredentialSource::changes) fires or [`poll_interval`](CredentialSource::poll_interval)
    /// elapses. What it returns is validated before it can replace anything.
    fn load(&self) -> BoxFuture<'_, Result<Credential>>;

    /// Like [`load`](CredentialSource::load), for a request sent at `since` that the server
    /// rejected: the answer must not come from a fetch that began before `since` (it could hold
    /// the very credential just rejected). Sources that cache or share fetches (the endpoint
    /// sources) honour it; the default reads afresh through `load`.
    fn load_since(&self, since: std::time::Instant) -> BoxFuture<'_, Result<Credential>> {
        let _ = since;
        self.load()
    }

    /// A signal that the credential may have changed; the client then re-loads (after the
    /// signal's debounce). Default: none.
    fn changes(&self) -> Option<Changes> {
        None
    }

    /// How often the background driver re-loads the source whatever the signals say
    /// (±20 % jitter). Default: never.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }
}
