//! Client certificates (mTLS) that rotate like keys, and CA bundles that rotate with them.
//!
//! - [`IdentitySource`]: where the certificate chain and private key come from (PEM files, the
//!   Kubernetes TLS-secret layout, SPIFFE helper files, any [`Source`](crate::Source) such as a
//!   Vault PKI endpoint). Read together, checked together (`identity.rs`), swapped together.
//! - Each handshake presents the identity current at that moment (`resolver.rs`: rustls'
//!   `ResolvesClientCert` over an `ArcSwap`, read without a lock).
//! - Each identity gets its own generation (`generation.rs`): a `reqwest::Client` with its own
//!   pool and TLS session cache, swapped atomically, so no connection or resumed session of a
//!   retired identity carries a request.
//! - A refusal — a TLS alert such as `certificate_revoked` (`alert.rs`), or 401/403 — goes
//!   down a recover path like a rejected key's (`recover.rs`): one refresh for all callers,
//!   one retry on a new connection, a bounded wait, then an error naming the cause.
//! - [`TrustSource`]: the CA bundle that verifies the server, swapped when its file changes
//!   (`trust.rs`).
//!
//! Configure with [`ClientBuilder::identity`](crate::ClientBuilder::identity) and
//! [`ClientBuilder::trust`](crate::ClientBuilder::trust).

mod alert;
mod generation;
mod identity;
mod resolver;
mod send;
mod source;
mod state;
mod trust;
mod watch;

pub(crate) use alert::{Refusal, Refused, refusal, refusal_name};
pub(crate) use generation::Configure;
pub use identity::MAX_PEM_BYTES;
pub(crate) use send::SentOn;
pub use source::{DEFAULT_IDENTITY_POLL_INTERVAL, IdentitySource, TrustSource};
pub(crate) use state::Tls;
pub use state::TlsStats;
pub(crate) use watch::spawn as spawn_watch;
