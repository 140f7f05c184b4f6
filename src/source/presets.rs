//! Presets: [`HttpSource`] configured for the request and response shapes of real secrets
//! managers. Each returns an ordinary `HttpSource`, so every builder method still applies
//! (re-point a header, add a secret pointer, move the base URL to a test server).

use super::http::{HeaderValueFrom, HttpSource};

impl HttpSource {
    /// HashiCorp Vault, KV secrets engine version 2: read the latest version of a secret.
    ///
    /// Request: `GET {addr}/v1/{mount}/data/{path}` with `X-Vault-Token: <token>`.
    /// Response (abridged from Vault's API docs, "Read secret version"):
    ///
    /// ```json
    /// {
    ///   "request_id": "…", "lease_id": "", "renewable": false, "lease_duration": 0,
    ///   "data": {
    ///     "data": { "api_key": "…", "api_secret": "…" },
    ///     "metadata": { "created_time": "2018-03-22T02:24:06.945319214Z",
    ///                   "custom_metadata": null, "deletion_time": "",
    ///                   "destroyed": false, "version": 2 }
    ///   },
    ///   "wrap_info": null, "warnings": null, "auth": null
    /// }
    /// ```
    ///
    /// The key is `/data/data/{field}`, the version `/data/metadata/version`. Add
    /// `.secret_pointer("/data/data/api_secret")` for a signing secret, and
    /// `.header("X-Vault-Namespace", ..)` for Vault Enterprise namespaces. The token is read
    /// again on every fetch: point it at a Vault Agent sink file to follow token renewal.
    ///
    /// ```
    /// use keyswap::{HeaderValueFrom, Source};
    /// let source = Source::vault_kv2(
    ///     "https://vault.internal:8200", "secret", "payments/exchange", "api_key",
    ///     HeaderValueFrom::file("/vault/agent/token"),
    /// );
    /// assert_eq!(source.url().unwrap(), "https://vault.internal:8200/v1/secret/data/payments/exchange");
    /// ```
    pub fn vault_kv2(
        addr: &str,
        mount: &str,
        path: &str,
        field: &str,
        token: HeaderValueFrom,
    ) -> HttpSource {
        let url = format!(
            "{}/v1/{}/data/{}",
            addr.trim_end_matches('/'),
            mount.trim_matches('/'),
            path.trim_matches('/')
        );
        HttpSource::new(&url)
            .header("X-Vault-Token", token)
            .key_pointer(format!("/data/data/{}", escape_pointer(field)))
            .version_pointer("/data/metadata/version")
    }

    /// The AWS Secrets Manager Agent, or the AWS Parameters and Secrets Lambda Extension:
    /// a local HTTP cache in front of `GetSecretValue`.
    ///
    /// Request: `GET http://localhost:2773/secretsmanager/get?secretId={secret_id}` with
    /// `X-Aws-Parameters-Secrets-Token: <token>` (the extension expects the value of
    /// `AWS_SESSION_TOKEN`, which is what is sent by default; re-point the header with
    /// `.header("X-Aws-Parameters-Secrets-Token", ..)` for an agent configured with its own
    /// token file). Move the port with `.base_url("http://localhost:PORT")`.
    /// Response: the `GetSecretValue` JSON:
    ///
    /// ```json
    /// {
    ///   "ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestSecret-a1b2c3",
    ///   "Name": "MyTestSecret",
    ///   "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    ///   "SecretString": "…",
    ///   "VersionStages": ["AWSCURRENT"],
    ///   "CreatedDate": 1523477145.713
    /// }
    /// ```
    ///
    /// The key is the whole `SecretString` and the version its `VersionId`. The agent caches
    /// the secret (`ttl_seconds`, 300 by default): scheduled polls read its cache, while the
    /// refresh after a rejection and `Client::refresh` add `refreshNow=true`, which the agent
    /// documents for getting past it, so a hard revocation costs no more than a key in a file
    /// ([`bypass_cache_query`](HttpSource::bypass_cache_query)). For a JSON secret
    /// (`{"api_key": "…", "api_secret": "…"}`) decode it first:
    ///
    /// ```
    /// use keyswap::Source;
    /// let source = Source::aws_secrets_manager_agent("prod/exchange")
    ///     .decode_json_at("/SecretString")
    ///     .key_pointer("/SecretString/api_key")
    ///     .secret_pointer("/SecretString/api_secret");
    /// # let _ = source;
    /// ```
    pub fn aws_secrets_manager_agent(secret_id: &str) -> HttpSource {
        let mut url = url::Url::parse("http://localhost:2773/secretsmanager/get")
            .expect("a valid constant URL");
        url.query_pairs_mut().append_pair("secretId", secret_id);
        HttpSource::new(url.as_str())
            .header(
                "X-Aws-Parameters-Secrets-Token",
                HeaderValueFrom::env("AWS_SESSION_TOKEN"),
            )
            .key_pointer("/SecretString")
            .version_pointer("/VersionId")
            .bypass_cache_query("refreshNow", "true")
    }

    /// Google Cloud Secret Manager: access the latest version of a secret.
    ///
    /// Request: `GET https://secretmanager.googleapis.com/v1/projects/{project}/secrets/{secret}/versions/latest:access`
    /// with `Authorization: Bearer <OAuth access token>` (from the metadata server, workload
    /// identity, or `gcloud auth print-access-token`; write it to a file that a sidecar
    /// refreshes and pass [`HeaderValueFrom::file`]).
    /// Response (`AccessSecretVersionResponse`):
    ///
    /// ```json
    /// {
    ///   "name": "projects/123456789/secrets/exchange-key/versions/3",
    ///   "payload": { "data": "czNjcjN0LWtleQ==", "dataCrc32c": "2414155093" }
    /// }
    /// ```
    ///
    /// `payload.data` is base64 and decoded first; the key is the decoded text (trimmed), the
    /// version the last segment of `name`. For a JSON payload, add
    /// `.decode_json_at("/payload/data").key_pointer("/payload/data/api_key")`.
    pub fn gcp_secret_manager(project: &str, secret: &str, token: HeaderValueFrom) -> HttpSource {
        let url = format!(
            "https://secretmanager.googleapis.com/v1/projects/{project}/secrets/{secret}/versions/latest:access"
        );
        HttpSource::new(&url)
            .bearer(token)
            .decode_base64_at("/payload/data")
            .key_pointer("/payload/data")
            .version_pointer_last_segment("/name")
    }

    /// Azure Key Vault: get the current version of a secret.
    ///
    /// Request: `GET {vault_url}/secrets/{name}?api-version=7.4` with
    /// `Authorization: Bearer <Entra ID token for https://vault.azure.net>`. `vault_url` is
    /// like `https://my-vault.vault.azure.net`.
    /// Response (`SecretBundle`):
    ///
    /// ```json
    /// {
    ///   "value": "…",
    ///   "id": "https://my-vault.vault.azure.net/secrets/exchange-key/4387e9f3d6e14c459867679a90fd0f79",
    ///   "attributes": { "enabled": true, "created": 1493938410, "updated": 1493938410,
    ///                   "exp": 1893456000, "recoveryLevel": "Recoverable+Purgeable" }
    /// }
    /// ```
    ///
    /// The key is `value`, the version the last segment of `id`, the expiry `attributes.exp`
    /// when set (the client then refreshes ahead of it).
    pub fn azure_key_vault(vault_url: &str, name: &str, token: HeaderValueFrom) -> HttpSource {
        let url = format!(
            "{}/secrets/{}?api-version=7.4",
            vault_url.trim_end_matches('/'),
            name.trim_matches('/')
        );
        HttpSource::new(&url)
            .bearer(token)
            .key_pointer("/value")
            .version_pointer_last_segment("/id")
            .expiry_pointer("/attributes/exp")
    }
}

/// A field name as one JSON-pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn escape_pointer(field: &str) -> String {
    field.replace('~', "~0").replace('/', "~1")
}
