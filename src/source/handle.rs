//! [`Source`]: the handle a client holds on any credential source, and its constructors.

use std::fmt;
use std::sync::Arc;

#[cfg(feature = "aws")]
use super::aws_sm::AwsSecretsManagerSource;
use super::credential_source::CredentialSource;
use super::env::EnvSource;
use super::file::FileSource;
use super::fixed::FixedSource;
use super::http::{HeaderValueFrom, HttpSource};
use super::oauth2::OAuth2ClientCredentials;
use crate::credential::Credential;

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
        OAuth2ClientCredentials::new(token_url, client_id, secret.into().0)
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
