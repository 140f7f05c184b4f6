//! Python bindings for keyswap: the native module `keyswap._keyswap`.
//!
//! Everything here wraps the Rust core; no credential logic is re-implemented. The Python
//! package `keyswap` (python/keyswap/__init__.py) re-exports these names.
//!
//! A request, in order: `client` (the classes) → `prepare` (Python arguments to Rust, GIL
//! held) → where it runs: `thread_runtime` / `sync_runtime` (+ `spin`, `signals`) for the
//! blocking `Client`, `shared_runtime` + `bridge` for `AsyncClient`, each with its `pools` →
//! `send` (the core attaches, signs, classifies, recovers, follows redirects) → `response`
//! (+ `headers`, `streaming`, `sent_request`). Building a client: `client_options` (and
//! `from_env`, `on_rotate`) into `client_state`. Forks: `fork`, `keeper`.

mod auth;
#[cfg(unix)]
mod bridge;
#[cfg(not(unix))]
#[path = "bridge_portable.rs"]
mod bridge;
mod client;
mod client_options;
mod client_state;
mod convert;
mod errors;
mod fork;
mod from_env;
mod headers;
mod health;
mod http_sources;
mod keeper;
mod mtls;
mod oauth2;
mod on_rotate;
mod pools;
mod prepare;
mod redact;
mod response;
mod send;
mod sent_request;
mod shared_runtime;
mod signals;
mod signers;
mod sources;
mod spin;
mod stats;
mod streaming;
mod sync_runtime;
mod thread_runtime;

use pyo3::prelude::*;

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
    m.add_class::<oauth2::OAuth2ClientCredentials>()?;
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
    m.add_class::<headers::Headers>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<sent_request::Request>()?;
    m.add_class::<streaming::ByteStream>()?;
    m.add_class::<streaming::AsyncByteStream>()?;
    m.add_class::<health::Health>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_function(wrap_pyfunction!(fork::after_fork_in_child, m)?)?;
    Ok(())
}
