//! Header values that may rotate themselves (a Vault token, a cloud access token).

use std::fmt;
use std::path::PathBuf;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::source::read::{MAX_HEADER_FILE_BYTES, describe_io, read_capped};

/// Where the value of a request header comes from; read again on every fetch, so a token
/// that is itself rotated (a Vault agent's sink file, a refreshed cloud access token) is
/// picked up without rebuilding anything.
///
/// The value is never shown: `Debug` prints the file path or variable name, or `[REDACTED]`.
#[derive(Clone)]
pub struct HeaderValueFrom {
    from: ValueFrom,
    pub(super) prefix: &'static str,
}

#[derive(Clone)]
enum ValueFrom {
    Literal(SecretString),
    File(PathBuf),
    Env(String),
}

impl HeaderValueFrom {
    /// The largest file accepted as a header value of an endpoint source (a Vault token, a
    /// Kubernetes service-account token).
    pub const MAX_FILE_BYTES: usize = crate::source::read::MAX_HEADER_FILE_BYTES;

    /// A fixed value.
    pub fn literal(value: impl Into<String>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::Literal(SecretString::from(value.into())),
            prefix: "",
        }
    }

    /// The content of a file (surrounding whitespace trimmed), read on every fetch. A regular
    /// file of at most [`MAX_HEADER_FILE_BYTES`](crate::HeaderValueFrom::MAX_FILE_BYTES) only.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::File(path.into()),
            prefix: "",
        }
    }

    /// The value of an environment variable (trimmed), read on every fetch.
    pub fn env(name: impl Into<String>) -> Self {
        HeaderValueFrom {
            from: ValueFrom::Env(name.into()),
            prefix: "",
        }
    }

    fn describe(&self) -> String {
        match &self.from {
            ValueFrom::Literal(_) => "literal value".to_owned(),
            ValueFrom::File(p) => format!("file {}", p.display()),
            ValueFrom::Env(v) => format!("variable {v}"),
        }
    }

    /// The header value now. Errors name where it comes from, never what it holds.
    pub(super) fn resolve(&self) -> std::result::Result<HeaderValue, String> {
        let raw = match &self.from {
            ValueFrom::Literal(s) => s.expose_secret().to_owned(),
            ValueFrom::File(p) => {
                let bytes = read_capped(p, MAX_HEADER_FILE_BYTES)
                    .map_err(|e| format!("cannot read {}: {}", self.describe(), describe_io(&e)))?;
                String::from_utf8(bytes)
                    .map_err(|_| format!("{} is not UTF-8 text", self.describe()))?
            }
            ValueFrom::Env(v) => {
                std::env::var(v).map_err(|_| format!("{} is not set", self.describe()))?
            }
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        let mut value = HeaderValue::try_from(format!("{}{raw}", self.prefix))
            .map_err(|_| format!("{} is not a valid header value", self.describe()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for HeaderValueFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            ValueFrom::Literal(_) => f.write_str("HeaderValueFrom::literal([REDACTED])"),
            ValueFrom::File(p) => write!(f, "HeaderValueFrom::file({})", p.display()),
            ValueFrom::Env(v) => write!(f, "HeaderValueFrom::env({v})"),
        }
    }
}
