//! Presets: [`HttpSource`](super::HttpSource) configured for the request and response shapes
//! of real secrets managers, each next to its configuration-string form, and
//! [`Source::parse`], which dispatches a string to its form (`file:` and `env:` are here).
//! Each preset returns an ordinary `HttpSource`, so every builder method still applies
//! (re-point a header, add a secret pointer, move the base URL to a test server).

use std::str::FromStr;

use reqwest::Url;

use super::handle::Source;
use crate::config::grammar::{Cx, is_env_name};
use crate::error::{Error, Result};

mod aws;
mod azure;
mod fields;
mod gcp;
mod generic;
mod oauth2;
mod vault;

// The SDK source (`aws_sm.rs`, feature `aws`) points into the same `GetSecretValue` shape.
#[cfg(feature = "aws")]
pub(in crate::source) use fields::{SECRET_STRING, member};

const SOURCE_SCHEMES: &str = "file:, env:, vault+https://, aws-sm://, aws-sm-agent://, gcp-sm://, \
                              azure-kv://, oauth2+https://, https://";

impl Source {
    /// A source from a configuration string, such as `file:///run/secrets/api_key` or
    /// `vault+https://vault.internal:8200/v1/secret/data/payments#api_key`.
    ///
    /// | form | source |
    /// |---|---|
    /// | `file:///abs/path`, `file:/abs/path`, `file:relative/path` | [`Source::file`] (a `file://` URL is percent-decoded; the other forms are taken as written) |
    /// | `env:NAME` | [`Source::env`] |
    /// | `vault+https://HOST[:PORT]/v1/MOUNT/data/PATH[?OPTS]#FIELD[&FOPTS]` | [`Source::vault_kv2`]; `vault+http://` to loopback only |
    /// | `aws-sm://SECRET_ID[?region=R][#FIELD[&FOPTS]]` | `Source::aws_secrets_manager` (cargo feature `aws`) |
    /// | `aws-sm-agent://SECRET_ID[?OPTS][#FIELD[&FOPTS]]` | [`Source::aws_secrets_manager_agent`]; also `port=N` |
    /// | `gcp-sm://projects/PROJECT/secrets/SECRET[?OPTS][#FIELD[&FOPTS]]`, `gcp-sm://PROJECT/SECRET` | [`Source::gcp_secret_manager`] |
    /// | `azure-kv://VAULT/SECRET[?OPTS][#FIELD[&FOPTS]]`, `azure-kv://https://VAULT.vault.azure.net/secrets/SECRET` | [`Source::azure_key_vault`] (the short form means `https://VAULT.vault.azure.net`) |
    /// | `oauth2+https://HOST/PATH?client_id=ID&secret_file=PATH[&OPTS]` | [`Source::oauth2_client_credentials`] (`secret_env=NAME` instead of `secret_file`; `auth=basic\|post\|jwt`, `scope=A,B` (commas for spaces), `audience=`, `resource=`); `oauth2+http://` to loopback only |
    /// | `https://HOST/PATH[?QUERY][#POINTER[&POPTS]]` | [`Source::http`] with key pointer `POINTER` (default `/key`); `http://` to loopback only |
    ///
    /// - **Tokens** (`OPTS`, after `?`): `token_env=NAME` or `token_file=PATH` (re-read on
    ///   every fetch, see [`HeaderValueFrom`](super::HeaderValueFrom)). Defaults: `VAULT_TOKEN` for Vault (sent as
    ///   `X-Vault-Token`), `AWS_SESSION_TOKEN` for the agent (`X-Aws-Parameters-Secrets-Token`),
    ///   `GOOGLE_OAUTH_ACCESS_TOKEN` for GCP and `AZURE_ACCESS_TOKEN` for Azure (sent as
    ///   `Authorization: Bearer`). Vault also takes `namespace=NS` (`X-Vault-Namespace`).
    /// - **Fields** (`FIELD`, after `#`): the member of the secret that holds the key; required
    ///   for Vault. For the others it means "the secret is a JSON object": without it the whole
    ///   secret is the key. `FOPTS`: `secret=FIELD` and `passphrase=FIELD` for the signing
    ///   secret and passphrase of an exchange key pair (`passphrase` is not available with
    ///   `aws-sm`).
    /// - **Generic endpoints** (`https://`): the URL's own query is sent as is; everything
    ///   keyswap needs is in the fragment: the key pointer first, then `POPTS`:
    ///   `secret=/PTR`, `passphrase=/PTR`, `version=/PTR`, `expiry=/PTR` (RFC 6901 pointers),
    ///   `token_env=NAME` or `token_file=PATH` (sent as `Authorization: Bearer`, or in the
    ///   header named by `token_header=NAME`).
    /// - Options are `name=value` pairs joined by `&`, not percent-decoded: values cannot
    ///   contain `&` or `#`. Unknown or repeated options are errors.
    /// - A literal key is **not** accepted (`fixed:…`): it would sit in plain text in your
    ///   configuration. Put it in a variable and use `env:NAME`.
    ///
    /// Surrounding whitespace is ignored. Errors are [`Error::is_builder`]; they name the part
    /// that is wrong and never repeat values from the string (a token in a query, a password
    /// in `user:password@`).
    ///
    /// ```
    /// use keyswap::Source;
    ///
    /// let file = Source::parse("file:///run/secrets/api_key")?;
    /// assert_eq!(file.name(), "file:/run/secrets/api_key");
    ///
    /// let vault = Source::parse(
    ///     "vault+https://vault.internal:8200/v1/secret/data/payments?token_file=/vault/token#api_key&secret=api_secret",
    /// )?;
    /// assert_eq!(vault.name(), "http:https://vault.internal:8200/v1/secret/data/payments");
    ///
    /// let gcp: Source = "gcp-sm://my-project/exchange-key#api_key&secret=api_secret".parse()?;
    /// # let _ = gcp;
    ///
    /// let err = Source::parse("fixed:sk_live_123").unwrap_err();
    /// assert!(err.is_builder() && !err.to_string().contains("sk_live_123"));
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Source> {
        parse_source(s)
    }
}

impl FromStr for Source {
    type Err = Error;

    /// See [`Source::parse`].
    fn from_str(s: &str) -> Result<Source> {
        parse_source(s)
    }
}

fn parse_source(input: &str) -> Result<Source> {
    let s = input.trim();
    let any = Cx::any("source");
    if s.is_empty() {
        return Err(any.err(
            "scheme",
            format!("empty string; expected one of {SOURCE_SCHEMES}"),
        ));
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err(any.err(
            "scheme",
            format!("missing; expected one of {SOURCE_SCHEMES} (a literal key is not accepted: use env:NAME)"),
        ));
    };
    Ok(match scheme.to_ascii_lowercase().as_str() {
        "file" => Source::file(file_path(rest)?).into(),
        "env" => {
            let cx = Cx::source("env");
            if !is_env_name(rest) {
                return Err(cx.err(
                    "variable",
                    "expected env:NAME, NAME made of letters, digits and `_`",
                ));
            }
            Source::env(rest).into()
        }
        "vault+https" | "vault+http" => vault::parse(&s["vault+".len()..])?.into(),
        "vault" => {
            return Err(Cx::source("vault").err(
                "scheme",
                "write vault+https://HOST:PORT/v1/MOUNT/data/PATH#FIELD",
            ));
        }
        "aws-sm" => aws::parse_sm(rest)?,
        "aws-sm-agent" => aws::parse_agent(rest)?.into(),
        "gcp-sm" => gcp::parse(rest)?.into(),
        "azure-kv" => azure::parse(rest)?.into(),
        "oauth2+https" | "oauth2+http" => oauth2::parse(&s["oauth2+".len()..])?.into(),
        "https" | "http" => generic::parse(s)?.into(),
        "fixed" | "literal" | "key" | "value" => {
            return Err(any.err(
                "scheme",
                "a literal key is not accepted in a configuration string (it would sit in plain \
                 text in your configuration): put it in an environment variable and use env:NAME, \
                 or in a file and use file:PATH",
            ));
        }
        _ => {
            return Err(any.err(
                "scheme",
                format!(
                    "{}; expected one of {SOURCE_SCHEMES}",
                    unknown_scheme(scheme)
                ),
            ));
        }
    })
}

/// "unknown scheme `ftp`": a scheme is named when it looks like one (RFC 3986: a letter, then
/// letters, digits, `+`, `-`, `.`; lowercase, as written in configurations, and short), so a
/// mistyped scheme is easy to spot. Anything else before the first `:` may be a pasted secret
/// (`sk_live_…:…`, an access key id) and is only described.
fn unknown_scheme(scheme: &str) -> String {
    let looks_like_one = (1..=16).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if looks_like_one {
        format!("unknown scheme `{scheme}`")
    } else {
        format!(
            "unknown ({} characters before `:`, not shown)",
            scheme.chars().count()
        )
    }
}

fn file_path(rest: &str) -> Result<std::path::PathBuf> {
    let cx = Cx::source("file");
    if rest.starts_with("//") {
        let url = Url::parse(&format!("file:{rest}"))
            .map_err(|e| cx.err("path", format!("not a valid file URL ({e})")))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(cx.err("path", "a file URL takes no query or fragment"));
        }
        let path = url.to_file_path().map_err(|()| {
            cx.err(
                "host",
                "a file URL takes an empty host (file:///abs/path) or localhost",
            )
        })?;
        return Ok(path);
    }
    if rest.is_empty() {
        return Err(cx.err(
            "path",
            "empty; expected file:///abs/path or file:relative/path",
        ));
    }
    if rest.chars().any(char::is_control) {
        return Err(cx.err("path", "contains control characters"));
    }
    Ok(rest.into())
}
