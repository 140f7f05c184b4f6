//! Credential sources: where a credential comes from, and how to hear that it changed.
//!
//! A source only answers "what is the credential now?" ([`CredentialSource::load`]) and,
//! optionally, "tell me when it may have changed" ([`CredentialSource::changes`]). Validation,
//! debouncing, polling, retries and swapping live in one place in the client, so every source
//! gets the same guarantees.

#[cfg(feature = "aws")]
mod aws_sm;
pub(crate) mod dir_watch;
mod env;
mod file;
mod fixed;
mod http;
mod oauth2;
mod parse;
mod presets;
mod read;
mod shared_file;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::credential::Credential;
use crate::error::Result;

#[cfg(feature = "aws")]
pub use aws_sm::AwsSecretsManagerSource;
pub use env::EnvSource;
pub use file::FileSource;
pub use fixed::FixedSource;
pub use http::{HeaderValueFrom, HttpSource};
pub use oauth2::{ClientAuthMethod, OAuth2ClientCredentials};
pub(crate) use read::{describe_io, read_capped};
pub use shared_file::file_reads;
// The parsers `crate::fuzzing` wraps for the cargo-fuzz targets (feature `fuzzing` only).
#[cfg(feature = "fuzzing")]
pub(crate) use self::{
    http::parse_retry_after,
    parse::{parse, parse_expiry},
};

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

/// A credential source, as given to [`ClientBuilder::source`](crate::ClientBuilder::source).
#[derive(Clone)]
pub struct Source(pub(crate) Arc<dyn CredentialSource>);

impl Source {
    /// The largest key file or environment value accepted as a credential. A JSON credential
    /// with a key, a secret, a passphrase and a PEM private key fits in a few KiB.
    pub const MAX_CREDENTIAL_BYTES: usize = crate::source::read::MAX_CREDENTIAL_BYTES;

    /// A file holding the key as plain text (trimmed), or JSON
    /// `{"key": .., "secret": .., "version": .., "expires_at": ..}`. Watched for changes,
    /// Kubernetes secret volumes included. See [`FileSource`].
    pub fn file(path: impl Into<std::path::PathBuf>) -> FileSource {
        FileSource::new(path)
    }

    /// An environment variable holding the key (plain or JSON, as for files), re-read whenever
    /// the client refreshes. See [`EnvSource`].
    pub fn env(name: impl Into<String>) -> EnvSource {
        EnvSource::new(name)
    }

    /// A credential that never changes: for tests and for keys rotated by restarting.
    pub fn fixed(credential: impl Into<Credential>) -> FixedSource {
        FixedSource::new(credential.into())
    }

    /// A JSON HTTP endpoint: headers, JSON pointers, decode steps, polling, ETag, limits.
    /// See [`HttpSource`].
    pub fn http(url: &str) -> HttpSource {
        HttpSource::new(url)
    }

    /// HashiCorp Vault KV v2 (`GET {addr}/v1/{mount}/data/{path}`, `X-Vault-Token`).
    /// See [`HttpSource::vault_kv2`].
    pub fn vault_kv2(
        addr: &str,
        mount: &str,
        path: &str,
        field: &str,
        token: HeaderValueFrom,
    ) -> HttpSource {
        HttpSource::vault_kv2(addr, mount, path, field, token)
    }

    /// The AWS Secrets Manager Agent / Lambda extension on `localhost:2773`.
    /// See [`HttpSource::aws_secrets_manager_agent`].
    pub fn aws_secrets_manager_agent(secret_id: &str) -> HttpSource {
        HttpSource::aws_secrets_manager_agent(secret_id)
    }

    /// GCP Secret Manager `versions/latest:access` (bearer token, base64 payload).
    /// See [`HttpSource::gcp_secret_manager`].
    pub fn gcp_secret_manager(project: &str, secret: &str, token: HeaderValueFrom) -> HttpSource {
        HttpSource::gcp_secret_manager(project, secret, token)
    }

    /// Azure Key Vault `secrets/{name}` (bearer token, `value`).
    /// See [`HttpSource::azure_key_vault`].
    pub fn azure_key_vault(vault_url: &str, name: &str, token: HeaderValueFrom) -> HttpSource {
        HttpSource::azure_key_vault(vault_url, name, token)
    }

    /// The AWS Secrets Manager API (`GetSecretValue`, SigV4 from the standard environment
    /// variables), following `AWSCURRENT` and reporting `AWSPREVIOUS`. Feature `aws`.
    /// See [`AwsSecretsManagerSource`].
    #[cfg(feature = "aws")]
    pub fn aws_secrets_manager(secret_id: &str) -> AwsSecretsManagerSource {
        AwsSecretsManagerSource::new(secret_id)
    }

    /// OAuth2 client credentials: the credential is an access token from `token_url`, obtained
    /// with `client_id` and the client secret (or private key) that `secret` holds, renewed
    /// before it expires. See [`OAuth2ClientCredentials`].
    pub fn oauth2_client_credentials(
        token_url: &str,
        client_id: impl Into<String>,
        secret: impl Into<Source>,
    ) -> OAuth2ClientCredentials {
        OAuth2ClientCredentials::new(token_url, client_id, secret.into())
    }

    /// Wraps your own [`CredentialSource`].
    pub fn custom(source: impl CredentialSource) -> Source {
        Source(Arc::new(source))
    }

    /// The source's name, as errors and logs show it.
    pub fn name(&self) -> String {
        self.0.name()
    }
}

impl<S: CredentialSource> From<S> for Source {
    fn from(source: S) -> Self {
        Source::custom(source)
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Source").field(&self.0.name()).finish()
    }
}

/// The receiving half of a change signal: see [`changes`].
pub struct Changes {
    rx: watch::Receiver<u64>,
    debounce: Duration,
    // Whatever produces the signal (a shared directory watcher) lives as long as this does.
    _keep_alive: Option<Arc<dyn Any + Send + Sync>>,
}

/// The sending half of a change signal: see [`changes`].
#[derive(Clone)]
pub struct ChangeNotifier {
    pub(super) tx: Arc<watch::Sender<u64>>,
}

/// Creates a change signal for a custom source: keep the [`ChangeNotifier`], return the
/// [`Changes`] from [`CredentialSource::changes`], call [`ChangeNotifier::notify`] when the
/// credential may have changed. Signals that arrive while a re-load is pending are coalesced.
pub fn changes() -> (ChangeNotifier, Changes) {
    let (tx, rx) = watch::channel(0);
    (
        ChangeNotifier { tx: Arc::new(tx) },
        Changes {
            rx,
            debounce: Duration::ZERO,
            _keep_alive: None,
        },
    )
}

impl ChangeNotifier {
    /// Signals that the credential may have changed.
    pub fn notify(&self) {
        signal(&self.tx, false);
    }
}

/// Bumps a change signal. Its value counts in steps of four; the low bit says whether the last
/// change was atomic (a file renamed into place, a Kubernetes `..data` swap, a writer closing
/// the file): such content cannot be read half-written, so the driver skips the debounce for
/// it.
pub(crate) fn signal(tx: &watch::Sender<u64>, atomic: bool) {
    signal_write(tx, atomic, false);
}

/// [`signal`], also saying whether a writer is at work in place (bit 1: the file was modified
/// and its writer has not closed it yet).
pub(crate) fn signal_write(tx: &watch::Sender<u64>, atomic: bool, writing: bool) {
    tx.send_modify(|n| {
        *n = (n.wrapping_add(4) & !3) | u64::from(atomic) | (u64::from(writing) << 1);
    });
}

/// Whether a signal's value says a writer is at work in place (see [`signal_write`]).
pub(crate) fn writing(value: u64) -> bool {
    value & 2 != 0
}

impl Changes {
    /// Whether the last change signalled was atomic (see [`signal`]).
    pub(crate) fn atomic(&self) -> bool {
        *self.rx.borrow() & 1 == 1
    }

    /// Waits this long after a signal, absorbing further signals, before the client re-loads:
    /// a file written in several steps is then read once, complete. Default: zero.
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    pub(crate) fn debounce(&self) -> Duration {
        self.debounce
    }

    /// Waits for the next signal; `false` once the sender is gone.
    pub(crate) async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Marks every signal so far as handled (the debounce window's coalescing).
    pub(crate) fn mark_seen(&mut self) {
        self.rx.mark_unchanged();
    }
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes")
            .field("debounce", &self.debounce)
            .finish()
    }
}

impl fmt::Debug for ChangeNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotifier").finish_non_exhaustive()
    }
}
