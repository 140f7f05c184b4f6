//! [`Client::from_env`]: a client builder from `KEYSWAP_*` variables, each value a
//! configuration string ([`Source::parse`], [`Auth::parse`]).

use reqwest::Url;

use crate::auth::Auth;
use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::config::grammar::has_userinfo;
use crate::error::{Error, Result};
use crate::source::Source;

/// The variable [`Client::from_env`] reads the source string from (required).
const ENV_SOURCE: &str = "KEYSWAP_SOURCE";
/// The variable [`Client::from_env`] reads the auth string from (optional, default `bearer`).
const ENV_AUTH: &str = "KEYSWAP_AUTH";
/// The variable [`Client::from_env`] reads the base URL from (optional).
const ENV_BASE_URL: &str = "KEYSWAP_BASE_URL";
/// The variables [`Client::from_env`] reads a client certificate and the server's CA bundle
/// from (optional; see [`IdentitySource::parse`](crate::tls::IdentitySource::parse)).
const ENV_CERT: &str = "KEYSWAP_CERT";
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
    /// [`build`](ClientBuilder::build).
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
        builder_from(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::builder(format!("{name} is not valid UTF-8")))
            }
        })
    }
}

/// `from_env` over any lookup (unit-testable without touching the process environment).
fn builder_from(lookup: impl Fn(&str) -> Result<Option<String>>) -> Result<ClientBuilder> {
    let get = |name: &str| -> Result<Option<String>> {
        Ok(lookup(name)?.filter(|v| !v.trim().is_empty()))
    };
    let mut builder = Client::builder();
    // mTLS: with a client certificate, the key source is optional.
    let cert = get(ENV_CERT)?;
    if cert.is_none() && get(ENV_VERIFY)?.is_some() {
        return Err(Error::builder(format!(
            "{ENV_VERIFY} (a CA bundle) is used with {ENV_CERT} (a client certificate)"
        )));
    }
    if let Some(cert) = &cert {
        let identity =
            crate::tls::IdentitySource::parse(cert).map_err(|e| prefixed(ENV_CERT, e))?;
        builder = builder.identity(identity);
        if let Some(verify) = get(ENV_VERIFY)? {
            let trust =
                crate::tls::TrustSource::parse(&verify).map_err(|e| prefixed(ENV_VERIFY, e))?;
            builder = builder.trust(trust);
        }
    }
    match get(ENV_SOURCE)? {
        Some(source) => {
            let source = Source::parse(&source).map_err(|e| prefixed(ENV_SOURCE, e))?;
            builder = builder.source(source);
        }
        None if cert.is_some() => {}
        None => {
            return Err(Error::builder(format!(
                "{ENV_SOURCE} is not set: set it to a source string such as file:///run/secrets/api_key or env:API_KEY"
            )));
        }
    }
    if let Some(auth) = get(ENV_AUTH)? {
        builder = builder.auth(Auth::parse(&auth).map_err(|e| prefixed(ENV_AUTH, e))?);
    }
    if let Some(base) = get(ENV_BASE_URL)? {
        let base = base.trim();
        check_base_url(base)?;
        builder = builder.base_url(base);
    }
    Ok(builder)
}

fn prefixed(var: &str, err: Error) -> Error {
    Error::builder(format!("{var}: {err}"))
}

fn check_base_url(base: &str) -> Result<()> {
    let bad = |why: String| Error::builder(format!("{ENV_BASE_URL}: {why}"));
    let url = Url::parse(base).map_err(|e| bad(format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme: must be http or https".into()));
    }
    if has_userinfo(&url) {
        return Err(bad(
            "host: credentials in the URL (user:password@) are not accepted".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn builder_from_a_lookup() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name: &str| Ok(map.get(name).cloned())
        };
        let b = builder_from(env(&[(ENV_SOURCE, "env:API_KEY")])).unwrap();
        let d = format!("{b:?}");
        assert!(d.contains("Source(\"env:API_KEY\")"), "{d}");
        assert!(d.contains("Auth::bearer()"), "{d}");
        assert!(d.contains("base_url: None"), "{d}");

        let b = builder_from(env(&[
            (ENV_SOURCE, " file:/run/k \n"),
            (ENV_AUTH, "query:api_key"),
            (ENV_BASE_URL, "https://api.example.com"),
        ]))
        .unwrap();
        let d = format!("{b:?}");
        assert!(d.contains("file:/run/k"), "{d}");
        assert!(d.contains("Auth::query(api_key)"), "{d}");
        assert!(d.contains("https://api.example.com"), "{d}");

        let err = builder_from(env(&[(ENV_AUTH, "bearer")])).unwrap_err();
        assert!(
            err.is_builder() && err.to_string().contains(ENV_SOURCE),
            "{err}"
        );
        let err = builder_from(env(&[(ENV_SOURCE, "  ")])).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
