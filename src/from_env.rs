//! The `KEYSWAP_*` environment variables, read and checked once for every skin:
//! [`Client::from_env`] turns them into a builder, and the Python bindings' `from_env` takes
//! the same values ([`EnvConfig`], letting keyword arguments replace some of them) instead of
//! reading and checking the variables again. Each value is a configuration string
//! ([`Source::parse`], [`Auth::parse`]).

use reqwest::Url;

use crate::auth::Auth;
use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::config::grammar::has_userinfo;
use crate::error::{Error, Result};
use crate::source::Source;
use crate::tls::{IdentitySource, TrustSource};

/// The variable the source string is read from (required, unless a client certificate is set).
const ENV_SOURCE: &str = "KEYSWAP_SOURCE";
/// The variable the auth string is read from (optional, default `bearer`).
const ENV_AUTH: &str = "KEYSWAP_AUTH";
/// The variable the base URL is read from (optional).
const ENV_BASE_URL: &str = "KEYSWAP_BASE_URL";
/// The variable a client certificate is read from (optional; see [`IdentitySource::parse`]).
const ENV_CERT: &str = "KEYSWAP_CERT";
/// The variable the server's CA bundle is read from (optional, with [`ENV_CERT`]; see
/// [`TrustSource::parse`]).
const ENV_VERIFY: &str = "KEYSWAP_VERIFY";

impl Client {
    /// A builder configured from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `KEYSWAP_SOURCE` | required (optional with `KEYSWAP_CERT`): a [source string](Source::parse) |
    /// | `KEYSWAP_AUTH` | optional, default `bearer`: an [auth string](Auth::parse) |
    /// | `KEYSWAP_BASE_URL` | optional: the [base URL](ClientBuilder::base_url) (`http` or `https`) |
    /// | `KEYSWAP_CERT` | optional: a [client certificate](crate::tls::IdentitySource::parse) (`CERT,KEY`, a combined PEM, or a Kubernetes TLS-secret directory) |
    /// | `KEYSWAP_VERIFY` | optional, with `KEYSWAP_CERT`: the server's [CA bundle](crate::tls::TrustSource::parse) |
    ///
    /// A variable set to an empty (or all-blank) value counts as unset. Everything is checked
    /// here, so a bad value fails at once, before `build`, with an [`Error::is_builder`] that
    /// names the variable and the part that is wrong (never its value). The builder can then
    /// be configured further as usual; nothing is loaded until
    /// [`build`](ClientBuilder::build). The values are those of [`EnvConfig`], which other
    /// skins (the Python bindings) read too.
    ///
    /// ```
    /// use keyswap::Client;
    ///
    /// // KEYSWAP_SOURCE=file:///run/secrets/api_key KEYSWAP_AUTH=header:X-API-Key
    /// // KEYSWAP_BASE_URL=https://api.example.com
    /// async fn run() -> Result<(), keyswap::Error> {
    ///     let client = Client::from_env()?
    ///         .rotation_policy(keyswap::RotationPolicy::default().overlap_window(
    ///             std::time::Duration::from_secs(60),
    ///         ))
    ///         .build()
    ///         .await?;
    ///     client.get("/v1/ping").send().await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn from_env() -> Result<ClientBuilder> {
        EnvConfig::read()?.builder()
    }
}

/// The `KEYSWAP_*` variables, each parsed as what it configures. A variable set to an empty
/// (or all-blank) value counts as unset. `Debug` shows what each value is, never a secret.
///
/// ```
/// # fn demo() -> keyswap::Result<()> {
/// // KEYSWAP_SOURCE=file:///run/secrets/api_key KEYSWAP_AUTH=header:X-API-Key
/// let env = keyswap::EnvConfig::read()?; // fails naming a malformed variable, never its value
/// if env.source.is_none() && env.identity.is_none() {
///     eprintln!("no credential configured in the environment");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `KEYSWAP_SOURCE`: a [source string](Source::parse).
    pub source: Option<Source>,
    /// `KEYSWAP_AUTH`: an [auth string](Auth::parse).
    pub auth: Option<Auth>,
    /// `KEYSWAP_BASE_URL`: an `http` or `https` URL without `user:password@` (trimmed).
    pub base_url: Option<String>,
    /// `KEYSWAP_CERT`: a client certificate (`CERT,KEY`, a combined PEM, or a Kubernetes
    /// TLS-secret directory).
    pub identity: Option<IdentitySource>,
    /// `KEYSWAP_VERIFY`: the server's CA bundle.
    pub trust: Option<TrustSource>,
}

impl EnvConfig {
    /// Reads the variables from the process environment and parses each one set. Nothing is
    /// loaded or opened. An error is an [`Error::is_builder`] naming the variable and the part
    /// that is wrong, never its value (a source string may hold a token).
    pub fn read() -> Result<EnvConfig> {
        EnvConfig::read_with(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::builder(format!("{name} is not valid UTF-8")))
            }
        })
    }

    /// [`read`](Self::read) over any lookup (testable without touching the environment).
    fn read_with(lookup: impl Fn(&str) -> Result<Option<String>>) -> Result<EnvConfig> {
        Ok(EnvConfig {
            source: var(&lookup, ENV_SOURCE, Source::parse)?,
            auth: var(&lookup, ENV_AUTH, Auth::parse)?,
            base_url: var(&lookup, ENV_BASE_URL, base_url)?,
            identity: var(&lookup, ENV_CERT, IdentitySource::parse)?,
            trust: var(&lookup, ENV_VERIFY, TrustSource::parse)?,
        })
    }

    /// Whether these values alone configure a client: a key source, or a client certificate
    /// (then the source is optional); a CA bundle only with a certificate. The error names the
    /// variables.
    pub fn check_complete(&self) -> Result<()> {
        if self.identity.is_none() && self.trust.is_some() {
            return Err(Error::builder(format!(
                "{ENV_VERIFY} (a CA bundle) is used with {ENV_CERT} (a client certificate)"
            )));
        }
        if self.source.is_none() && self.identity.is_none() {
            return Err(Error::builder(format!(
                "{ENV_SOURCE} is not set: set it to a source string such as file:///run/secrets/api_key or env:API_KEY"
            )));
        }
        Ok(())
    }

    /// A client builder with these values, after [`check_complete`](Self::check_complete).
    pub fn builder(self) -> Result<ClientBuilder> {
        self.check_complete()?;
        let mut builder = Client::builder();
        if let Some(identity) = self.identity {
            builder = builder.identity(identity);
        }
        if let Some(trust) = self.trust {
            builder = builder.trust(trust);
        }
        if let Some(source) = self.source {
            builder = builder.source(source);
        }
        if let Some(auth) = self.auth {
            builder = builder.auth(auth);
        }
        if let Some(base) = self.base_url {
            builder = builder.base_url(base);
        }
        Ok(builder)
    }
}

/// Variable `name`, parsed with `parse` when set to something other than blanks; the error
/// names the variable.
fn var<T>(
    lookup: impl Fn(&str) -> Result<Option<String>>,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<T>> {
    match lookup(name)? {
        Some(value) if !value.trim().is_empty() => parse(&value)
            .map(Some)
            .map_err(|err| Error::builder(format!("{name}: {err}"))),
        _ => Ok(None),
    }
}

/// `KEYSWAP_BASE_URL`'s value, trimmed: an `http` or `https` URL without credentials.
fn base_url(text: &str) -> Result<String> {
    let base = text.trim();
    let url = Url::parse(base).map_err(|e| Error::builder(format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::builder("scheme: must be http or https"));
    }
    if has_userinfo(&url) {
        return Err(Error::builder(
            "host: credentials in the URL (user:password@) are not accepted",
        ));
    }
    Ok(base.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| Ok(map.get(name).cloned())
    }

    fn builder(pairs: &[(&str, &str)]) -> Result<ClientBuilder> {
        EnvConfig::read_with(env(pairs))?.builder()
    }

    #[test]
    fn builder_from_a_lookup() {
        let d = format!("{:?}", builder(&[(ENV_SOURCE, "env:API_KEY")]).unwrap());
        assert!(d.contains("Source(\"env:API_KEY\")"), "{d}");
        assert!(d.contains("Auth::bearer()"), "{d}");
        assert!(d.contains("base_url: None"), "{d}");

        let b = builder(&[
            (ENV_SOURCE, " file:/run/k \n"),
            (ENV_AUTH, "query:api_key"),
            (ENV_BASE_URL, "https://api.example.com"),
        ])
        .unwrap();
        let d = format!("{b:?}");
        assert!(d.contains("file:/run/k"), "{d}");
        assert!(d.contains("Auth::query(api_key)"), "{d}");
        assert!(d.contains("https://api.example.com"), "{d}");

        let err = builder(&[(ENV_AUTH, "bearer")]).unwrap_err();
        assert!(
            err.is_builder() && err.to_string().contains(ENV_SOURCE),
            "{err}"
        );
        let err = builder(&[(ENV_SOURCE, "  ")]).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }

    #[test]
    fn each_value_is_checked_when_read_whatever_else_is_set() {
        // No source at all is the caller's business (`check_complete`), not a read error...
        let only_auth = EnvConfig::read_with(env(&[(ENV_AUTH, "header:X-Key")])).unwrap();
        assert!(only_auth.source.is_none() && only_auth.auth.is_some());
        assert!(only_auth.check_complete().is_err());
        // ...but a malformed value is, naming the variable and never the value.
        for (var, value) in [
            (ENV_SOURCE, "fixed:sk_live_SECRET"),
            (ENV_AUTH, "bogus:sk_live_SECRET"),
            (ENV_BASE_URL, "ftp://sk_live_SECRET@host/"),
            (ENV_BASE_URL, "https://user:sk_live_SECRET@host/"),
        ] {
            let err = EnvConfig::read_with(env(&[(var, value)])).unwrap_err();
            let shown = err.to_string();
            assert!(err.is_builder() && shown.starts_with(var), "{shown}");
            assert!(!shown.contains("sk_live_SECRET"), "{shown}");
        }
        let err = EnvConfig::read_with(env(&[(ENV_SOURCE, "env:K"), (ENV_VERIFY, "/ca.crt")]))
            .unwrap()
            .check_complete()
            .unwrap_err();
        assert!(err.to_string().contains(ENV_CERT), "{err}");
    }
}
