//! A credential in an environment variable, re-read on every load.

use super::credential_source::{BoxFuture, CredentialSource};
use super::parse;
use super::read::MAX_CREDENTIAL_BYTES;
use crate::credential::Credential;
use crate::error::{Error, Result};

/// A credential read from an environment variable; create with [`Source::env`](crate::Source::env).
///
/// The variable is read again on every load, so a process that updates it (`std::env::set_var`,
/// a Python `os.environ[...] = ...`) and then calls [`Client::refresh`](crate::Client::refresh),
/// or meets an authentication failure, uses the new value. Content is parsed as for
/// [`FileSource`](crate::FileSource): the key alone, or a JSON object, at most
/// [`MAX_CREDENTIAL_BYTES`](crate::Source::MAX_CREDENTIAL_BYTES).
///
/// Changing the environment of a running process is not thread-safe in C libraries
/// generally (`setenv` while another thread calls `getenv` is undefined behaviour in glibc),
/// and Python's `os.environ[...] = ...` calls `setenv`. Prefer a file, a
/// [custom source](crate::Source::custom) fed by your program, or set the variable before
/// clients start reading it and then call [`Client::refresh`](crate::Client::refresh).
#[derive(Debug, Clone)]
pub struct EnvSource {
    var: String,
}

impl EnvSource {
    pub(crate) fn new(var: impl Into<String>) -> Self {
        EnvSource { var: var.into() }
    }
}

impl CredentialSource for EnvSource {
    fn name(&self) -> String {
        format!("env:{}", self.var)
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(async move {
            let value = std::env::var_os(&self.var)
                .ok_or_else(|| Error::source(&self.name(), "variable is not set"))?;
            let len = value.as_encoded_bytes().len();
            if len > MAX_CREDENTIAL_BYTES {
                return Err(Error::source(
                    &self.name(),
                    format!("the value is {len} bytes, over the limit of {MAX_CREDENTIAL_BYTES}"),
                ));
            }
            parse::parse(value.as_encoded_bytes())
                .map_err(|e| Error::source(&self.name(), e.to_string()))
        })
    }
}
