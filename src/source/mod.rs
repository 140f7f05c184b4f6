//! Credential sources: where a credential comes from, and how to hear that it changed.
//!
//! A source only answers "what is the credential now?" ([`CredentialSource::load`]) and,
//! optionally, "tell me when it may have changed" ([`CredentialSource::changes`]). Validation,
//! debouncing, polling, retries and swapping live in one place in the client, so every source
//! gets the same guarantees.

#[cfg(feature = "aws")]
mod aws_sm;
mod change_signal;
mod credential_source;
pub(crate) mod dir_watch;
mod env;
mod file;
mod fixed;
mod handle;
mod http;
mod oauth2;
mod parse;
mod presets;
mod read;
mod shared_file;

#[cfg(feature = "aws")]
pub use aws_sm::AwsSecretsManagerSource;
pub use change_signal::{ChangeNotifier, Changes, changes};
pub use credential_source::{BoxFuture, CredentialSource};
pub use env::EnvSource;
pub use file::FileSource;
pub use fixed::FixedSource;
pub use handle::Source;
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
