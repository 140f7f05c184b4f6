#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod background;
mod body;
mod builder;
mod classify;
mod client;
mod config;
mod credential;
mod engine;
mod error;
#[doc(hidden)]
pub mod fork;
mod from_env;
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
mod rejection_policy;
mod request;
mod response;
mod rotation_policy;
mod scope;
pub mod sign;
mod single_flight;
mod source;
mod stats;
mod store;
mod sync;
pub mod time;
pub mod tls;
#[cfg(feature = "tower")]
pub mod tower;
mod transport;

pub use auth::Auth;
pub use builder::ClientBuilder;
pub use classify::verdict;
pub use client::Client;
pub use credential::{Credential, RefreshWindows};
pub use error::{Error, Result};
pub use fork::after_fork;
pub use from_env::EnvConfig;
pub use health::{Health, HealthState};
#[cfg(feature = "middleware")]
pub use middleware::Middleware;
pub use redirect::{MaxRedirects, Redirect, redirects};
pub use rejection_policy::RejectionPolicy;
pub use request::RequestBuilder;
pub use rotation_policy::RotationPolicy;
pub use sign::Rejection;
#[cfg(feature = "aws")]
pub use source::AwsSecretsManagerSource;
/// Test support: how many times any file source has been read in this process. Not part of
/// the API.
#[doc(hidden)]
pub use source::file_reads;
pub use source::{
    BoxFuture, ChangeNotifier, Changes, CredentialSource, EnvSource, FileSource, FixedSource,
    Source, changes,
};
pub use source::{ClientAuthMethod, OAuth2ClientCredentials};
pub use source::{HeaderValueFrom, HttpSource};
pub use stats::{Rotation, Stats};

/// The reqwest this crate wraps, so your `Request`, `Response` and `Client` types always match.
pub use reqwest;
