#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod background;
mod builder;
mod classify;
mod client;
mod config;
mod credential;
mod engine;
mod env_config;
mod error;
#[doc(hidden)]
pub mod fork;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod http_client;
mod jitter;
mod metrics;
#[cfg(feature = "middleware")]
mod middleware;
mod redirect;
mod request;
mod response;
mod scope;
pub mod sign;
mod single_flight;
mod source;
mod stats;
mod store;
pub mod time;
pub mod tls;
#[cfg(feature = "tower")]
pub mod tower;
mod transport;

pub use auth::Auth;
pub use builder::{
    ClientBuilder, DEFAULT_AUTH_FAILURE_STATUSES, DEFAULT_AWAIT_ROTATION, DEFAULT_LOAD_TIMEOUT,
    DEFAULT_MAX_REDIRECTS, DEFAULT_OVERLAP_WINDOW, DEFAULT_PROBE_INTERVAL,
    DEFAULT_PROPAGATION_HOLD,
};
pub use classify::verdict;
pub use client::Client;
pub use credential::{Credential, RefreshWindows};
pub use env_config::EnvConfig;
pub use error::{Error, Result};
pub use fork::after_fork;
pub use health::{Health, HealthState};
#[cfg(feature = "middleware")]
pub use middleware::Middleware;
pub use redirect::{MaxRedirects, Redirect, redirects};
pub use request::RequestBuilder;
pub use sign::Rejection;
#[cfg(feature = "aws")]
pub use source::AwsSecretsManagerSource;
pub use source::{
    BoxFuture, ChangeNotifier, Changes, CredentialSource, EnvSource, FileSource, FixedSource,
    Source, changes,
};
pub use source::{
    ClientAuthMethod, DEFAULT_ADVISORY_MARGIN, DEFAULT_AWAIT_SECRET, DEFAULT_MANDATORY_MARGIN,
    DEFAULT_RETRY_SPACING, DEFAULT_TOKEN_LIFETIME, DEFAULT_TOKEN_TIMEOUT, MAX_TOKEN_LIFETIME,
    OAuth2ClientCredentials,
};
pub use source::{DEFAULT_FILE_DEBOUNCE, DEFAULT_FILE_POLL_INTERVAL};
pub use source::{
    DEFAULT_HTTP_POLL_INTERVAL, DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_REUSE_WINDOW,
    HeaderValueFrom, HttpSource,
};
pub use source::{MAX_CREDENTIAL_BYTES, MAX_HEADER_FILE_BYTES, file_reads};
pub use stats::{Rotation, Stats};

/// The reqwest this crate wraps, so your `Request`, `Response` and `Client` types always match.
pub use reqwest;
