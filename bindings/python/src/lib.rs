//! Python bindings for keyswap: the native module `keyswap._keyswap`.
//!
//! Everything here wraps the Rust core; no credential logic is re-implemented. The Python
//! package `keyswap` (python/keyswap/__init__.py) re-exports these names.

mod auth;
mod client;
mod convert;
mod errors;
mod http_sources;
mod response;
mod signers;
mod sources;

use pyo3::prelude::*;

/// The Tokio runtime every client of the process shares: the one pyo3-async-runtimes owns,
/// so sync and async clients use the same worker threads and connection machinery.
///
/// `KEYSWAP_WORKER_THREADS` (read once, before the first client is built) sets its number of
/// worker threads; default: one per CPU, as Tokio does. One worker gives the lowest latency
/// when the Python side is a single thread or an event loop (no work stealing between
/// workers); more workers help when many threads drive TLS-heavy traffic.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let workers = std::env::var("KEYSWAP_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0);
        if let Some(n) = workers {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder
                .enable_all()
                .worker_threads(n)
                .thread_name("keyswap-worker");
            pyo3_async_runtimes::tokio::init(builder);
        }
    });
    pyo3_async_runtimes::tokio::get_runtime()
}

#[pymodule]
fn _keyswap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(py, m)?;
    m.add_class::<sources::Credential>()?;
    m.add_class::<sources::Source>()?;
    m.add_class::<sources::FileSource>()?;
    m.add_class::<sources::EnvSource>()?;
    m.add_class::<sources::FixedSource>()?;
    m.add_class::<sources::CustomSource>()?;
    m.add_class::<http_sources::FromFile>()?;
    m.add_class::<http_sources::FromEnv>()?;
    m.add_class::<http_sources::HttpSource>()?;
    m.add_class::<http_sources::VaultSource>()?;
    m.add_class::<http_sources::AwsSecretsManagerAgentSource>()?;
    m.add_class::<http_sources::GcpSecretManagerSource>()?;
    m.add_class::<http_sources::AzureKeyVaultSource>()?;
    m.add_class::<auth::Auth>()?;
    m.add_class::<auth::Header>()?;
    m.add_class::<auth::Bearer>()?;
    m.add_class::<auth::Query>()?;
    m.add_class::<auth::Basic>()?;
    m.add_class::<auth::Sign>()?;
    m.add_class::<auth::SigningRequest>()?;
    m.add_class::<signers::BinanceSigner>()?;
    m.add_class::<signers::KrakenSigner>()?;
    m.add_class::<signers::CoinbaseSigner>()?;
    m.add_class::<signers::OkxSigner>()?;
    m.add_class::<signers::BybitSigner>()?;
    m.add_class::<signers::HmacSigner>()?;
    m.add_class::<response::Headers>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    Ok(())
}
