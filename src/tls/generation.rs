//! A generation: one identity and the `reqwest::Client` (connection pool, TLS session cache)
//! whose connections were opened with it. A rotation, or a refusal, starts a new generation and
//! swaps it in atomically; requests in flight finish on theirs; idle connections and resumable
//! sessions of a retired generation are dropped with its last handle, so none of them carries
//! a request again (client-go closes the connections of a replaced certificate for the same
//! reason, and a resumed session would present the old certificate again).

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;

use super::identity::ClientIdentity;

/// Settings applied to each generation's `reqwest::ClientBuilder` (timeouts, default headers,
/// proxies): see [`ClientBuilder::tls_http`](crate::ClientBuilder::tls_http).
pub(crate) type Configure =
    Arc<dyn Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync>;

pub(crate) struct Generation {
    /// Increases with every generation of one client.
    pub(crate) id: u64,
    pub(crate) identity: Arc<ClientIdentity>,
    pub(crate) http: reqwest::Client,
}

/// The parts every generation shares: the verifier of the server, the resolver of the client
/// certificate, the crypto provider and the user's settings.
pub(crate) struct Parts {
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) verifier: Arc<dyn ServerCertVerifier>,
    pub(crate) resolver: Arc<dyn ResolvesClientCert>,
    pub(crate) configure: Option<Configure>,
}

impl Parts {
    /// A fresh `reqwest::Client` for a new generation: its own `ClientConfig`, hence its own
    /// session cache and connection pool.
    pub(crate) fn build(
        &self,
        id: u64,
        identity: Arc<ClientIdentity>,
    ) -> Result<Generation, String> {
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone())
            .with_client_cert_resolver(self.resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .use_preconfigured_tls(config);
        if let Some(configure) = &self.configure {
            builder = configure(builder);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Generation { id, identity, http })
    }
}
