//! Configuration by string: [`Source::parse`], [`Auth::parse`] and [`Client::from_env`].
//!
//! A configuration string says *where* a credential is and *how* it is sent, never what it is:
//! there is no form for a literal key. Errors name the part of the string that is wrong (the
//! scheme, the host, the path, the fragment, an option) and never repeat what the string holds
//! beyond the scheme and option names: a token pasted into a query or fragment, or a password
//! in `user:password@`, does not reach a log through an error message.

use std::str::FromStr;

use reqwest::Url;
use reqwest::header::HeaderName;

use crate::auth::Auth;
use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::scope::is_loopback;
use crate::sign::{BinanceSigner, BybitSigner, CoinbaseSigner, KrakenSigner, NonceUnit, OkxSigner};
use crate::source::{HeaderValueFrom, HttpSource, Source};

mod oauth2;

/// Default token variables of the endpoint forms.
const VAULT_TOKEN_ENV: &str = "VAULT_TOKEN";
const AGENT_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";
const GCP_TOKEN_ENV: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";
const AZURE_TOKEN_ENV: &str = "AZURE_ACCESS_TOKEN";

const SOURCE_SCHEMES: &str = "file:, env:, vault+https://, aws-sm://, aws-sm-agent://, gcp-sm://, \
                              azure-kv://, oauth2+https://, https://";
const AUTH_KINDS: &str = "bearer, header:NAME, query:NAME, basic:USER, binance, bybit, coinbase, \
                          kraken, okx";

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
    ///   every fetch, see [`HeaderValueFrom`]). Defaults: `VAULT_TOKEN` for Vault (sent as
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

impl Auth {
    /// How the credential is sent, from a configuration string such as `header:X-API-Key`.
    ///
    /// | form | auth |
    /// |---|---|
    /// | `bearer` | [`Auth::bearer`] |
    /// | `header:NAME` | [`Auth::header`] |
    /// | `query:NAME` | [`Auth::query`] |
    /// | `basic:USER` | [`Auth::basic`] (the key is the password) |
    /// | `binance[?recv_window=MS]` | [`BinanceSigner`] (`recv_window=none` sends none) |
    /// | `bybit[?recv_window=MS]` | [`BybitSigner`] |
    /// | `coinbase[?lifetime=SECS]` | [`CoinbaseSigner`] (1 to 120 s) |
    /// | `kraken[?nonce=ms\|us]` | [`KrakenSigner`] |
    /// | `okx` | [`OkxSigner`] |
    ///
    /// Names (`bearer`, `binance`, …) are case-insensitive; surrounding whitespace is ignored.
    /// Errors are [`Error::is_builder`] and never repeat values from the string.
    ///
    /// ```
    /// use keyswap::Auth;
    ///
    /// let auth = Auth::parse("header:X-API-Key")?;
    /// assert_eq!(format!("{auth:?}"), "Auth::header(x-api-key)");
    /// let signed: Auth = "binance?recv_window=10000".parse()?;
    /// assert_eq!(format!("{signed:?}"), "Auth::signer(binance)");
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Auth> {
        parse_auth(s)
    }
}

impl FromStr for Auth {
    type Err = Error;

    /// See [`Auth::parse`].
    fn from_str(s: &str) -> Result<Auth> {
        parse_auth(s)
    }
}

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
    /// [`build`](ClientBuilder::build). The values are those of [`EnvConfig`](crate::EnvConfig),
    /// which other skins (the Python bindings) read too.
    ///
    /// ```
    /// use keyswap::Client;
    ///
    /// // KEYSWAP_SOURCE=file:///run/secrets/api_key KEYSWAP_AUTH=header:X-API-Key
    /// // KEYSWAP_BASE_URL=https://api.example.com
    /// async fn run() -> Result<(), keyswap::Error> {
    ///     let client = Client::from_env()?
    ///         .overlap_window(std::time::Duration::from_secs(60))
    ///         .build()
    ///         .await?;
    ///     client.get("/v1/ping").send().await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn from_env() -> Result<ClientBuilder> {
        crate::env_config::EnvConfig::read()?.builder()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What a string is being parsed as, and under which scheme: the context of every message.
#[derive(Clone, Copy)]
struct Cx {
    what: &'static str,
    scheme: Option<&'static str>,
}

impl Cx {
    fn source(scheme: &'static str) -> Self {
        Cx {
            what: "source",
            scheme: Some(scheme),
        }
    }

    fn auth(kind: &'static str) -> Self {
        Cx {
            what: "auth",
            scheme: Some(kind),
        }
    }

    /// An error about `part` (scheme, host, path, fragment, option `x`). `why` must not contain
    /// anything taken from the input except names vetted by [`shown`].
    fn err(self, part: &str, why: impl std::fmt::Display) -> Error {
        match self.scheme {
            Some(scheme) => Error::builder(format!(
                "invalid {} string ({scheme}): {part}: {why}",
                self.what
            )),
            None => Error::builder(format!("invalid {} string: {part}: {why}", self.what)),
        }
    }
}

/// Option names a message may show: the grammar's own, and a few a user may write by mistake.
/// Any other name is described, not shown: it could be a pasted token.
const NAMES: &[&str] = &[
    "token_env",
    "token_file",
    "token_header",
    "namespace",
    "port",
    "region",
    "key",
    "secret",
    "passphrase",
    "version",
    "expiry",
    "recv_window",
    "lifetime",
    "nonce",
    "token",
    "password",
    "api_key",
    "field",
];

/// An option name as it may appear in a message (see [`NAMES`]).
fn shown(name: &str) -> String {
    match NAMES.iter().chain(oauth2::OPTIONS).find(|n| **n == name) {
        Some(n) => format!("`{n}`"),
        None => "(unknown name, not shown)".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------------

/// `name=value` pairs joined by `&`, checked against the names a form accepts.
struct Opts<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Opts<'a> {
    fn none() -> Self {
        Opts { pairs: Vec::new() }
    }

    /// Parses `text` (`a=1&b=2`); `part` is how messages call these ("option", "fragment
    /// option").
    fn parse(cx: Cx, part: &str, text: &'a str, allowed: &[&str]) -> Result<Self> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for item in text.split('&') {
            if item.is_empty() {
                return Err(cx.err(part, "empty option (a stray `&`?)"));
            }
            let Some((name, value)) = item.split_once('=') else {
                return Err(cx.err(part, "expected name=value"));
            };
            let label = format!("{part} {}", shown(name));
            if !allowed.contains(&name) {
                let supported = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(cx.err(
                    &label,
                    format!("not supported here (supported: {supported})"),
                ));
            }
            if value.is_empty() {
                return Err(cx.err(&label, "empty value"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(cx.err(&label, "given twice"));
            }
            pairs.push((name, value));
        }
        Ok(Opts { pairs })
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Splits `body[?query][#fragment]`. Empty query or fragment count as absent.
fn split_parts(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (before, fragment) = match s.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (s, None),
    };
    let (body, query) = match before.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before, None),
    };
    (
        body,
        query.filter(|q| !q.is_empty()),
        fragment.filter(|f| !f.is_empty()),
    )
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// A JSON member name as one RFC 6901 pointer segment.
fn escape_pointer(field: &str) -> String {
    field.replace('~', "~0").replace('/', "~1")
}

/// A field name (`api_key`): no control characters, no `?` or `#` (which mean an option or a
/// fragment was put in the wrong place).
fn check_field(cx: Cx, part: &str, field: &str) -> Result<()> {
    if field.is_empty() {
        return Err(cx.err(part, "empty field name"));
    }
    if field.contains('?') {
        return Err(cx.err(
            part,
            "contains `?`: options go before `#` (…?token_file=PATH#field)",
        ));
    }
    if field.contains('#') || field.chars().any(char::is_control) {
        return Err(cx.err(part, "field name contains `#` or control characters"));
    }
    Ok(())
}

/// A JSON pointer (`/data/key`).
fn check_pointer(cx: Cx, part: &str, pointer: &str) -> Result<()> {
    if !pointer.starts_with('/') {
        return Err(cx.err(part, "a JSON pointer must start with `/` (e.g. /data/key)"));
    }
    if pointer.contains('?') {
        return Err(cx.err(
            part,
            "contains `?`: a generic endpoint takes its options in the fragment, after `&`",
        ));
    }
    if pointer.chars().any(char::is_control) {
        return Err(cx.err(part, "contains control characters"));
    }
    Ok(())
}

/// The token header value from `token_env=` / `token_file=`, else from `default_env`.
fn token(cx: Cx, part: &str, opts: &Opts<'_>, default_env: &str) -> Result<HeaderValueFrom> {
    match (opts.get("token_env"), opts.get("token_file")) {
        (Some(_), Some(_)) => Err(cx.err(
            &format!("{part} `token_env`"),
            "give token_env or token_file, not both",
        )),
        (Some(var), None) => {
            if !is_env_name(var) {
                return Err(cx.err(
                    &format!("{part} `token_env`"),
                    "not a variable name (letters, digits, `_`)",
                ));
            }
            Ok(HeaderValueFrom::env(var))
        }
        (None, Some(path)) => Ok(HeaderValueFrom::file(path)),
        (None, None) => Ok(HeaderValueFrom::env(default_env)),
    }
}

/// `#FIELD[&secret=FIELD][&passphrase=FIELD]`: (key, secret, passphrase) member names.
struct Fields<'a> {
    key: Option<&'a str>,
    secret: Option<&'a str>,
    passphrase: Option<&'a str>,
}

fn fields<'a>(cx: Cx, fragment: Option<&'a str>, passphrase: bool) -> Result<Fields<'a>> {
    if fragment.is_some_and(|f| f.contains('?')) {
        return Err(cx.err(
            "fragment",
            "contains `?`: options go before `#` (…?token_file=PATH#field)",
        ));
    }
    let Some(fragment) = fragment else {
        return Ok(Fields {
            key: None,
            secret: None,
            passphrase: None,
        });
    };
    let (first, rest) = match fragment.split_once('&') {
        Some((f, r)) => (f, Some(r)),
        None => (fragment, None),
    };
    let (key, opts_text) = if first.contains('=') {
        (None, Some(fragment))
    } else {
        (Some(first), rest)
    };
    let allowed: &[&str] = if passphrase {
        &["key", "secret", "passphrase"]
    } else {
        &["key", "secret"]
    };
    let opts = match opts_text {
        Some(text) => Opts::parse(cx, "fragment option", text, allowed)?,
        None => Opts::none(),
    };
    if key.is_some() && opts.get("key").is_some() {
        return Err(cx.err(
            "fragment option `key`",
            "given twice (also before the first `&`)",
        ));
    }
    let key = key.or(opts.get("key"));
    if let Some(key) = key {
        check_field(cx, "fragment", key)?;
    }
    for name in ["secret", "passphrase"] {
        if let Some(v) = opts.get(name) {
            check_field(cx, &format!("fragment option `{name}`"), v)?;
        }
    }
    let f = Fields {
        key,
        secret: opts.get("secret"),
        passphrase: opts.get("passphrase"),
    };
    if f.key.is_none() && (f.secret.is_some() || f.passphrase.is_some()) {
        return Err(cx.err(
            "fragment",
            "secret= or passphrase= needs the key's field first (#api_key&secret=api_secret)",
        ));
    }
    Ok(f)
}

/// Applies `fields` to a preset whose secret text is at `at` (decoding it as JSON first when
/// a field is named).
fn with_fields(mut src: HttpSource, at: &str, f: &Fields<'_>) -> HttpSource {
    if let Some(key) = f.key {
        src = src
            .decode_json_at(at)
            .key_pointer(format!("{at}/{}", escape_pointer(key)));
    }
    if let Some(secret) = f.secret {
        src = src.secret_pointer(format!("{at}/{}", escape_pointer(secret)));
    }
    if let Some(pass) = f.passphrase {
        src = src.passphrase_pointer(format!("{at}/{}", escape_pointer(pass)));
    }
    src
}

/// `//` after the scheme, as in `aws-sm://id`.
fn after_slashes<'a>(cx: Cx, rest: &'a str, example: &str) -> Result<&'a str> {
    rest.strip_prefix("//").ok_or_else(|| {
        cx.err(
            "scheme",
            format!("expected `//` after the scheme ({example})"),
        )
    })
}

/// A URL as a base (`https://host:port`): https, or http to loopback; no credentials, no
/// query or fragment.
fn endpoint_url(cx: Cx, text: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| cx.err("host", format!("not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(cx.err(
                "scheme",
                "plain http is only allowed to loopback (127.0.0.1, ::1, localhost); use https",
            ));
        }
        _ => return Err(cx.err("scheme", "expected https:// (or http:// to loopback)")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(cx.err("host", "missing"));
    }
    if has_userinfo(&url) {
        return Err(cx.err(
            "host",
            "credentials in the URL (user:password@) are not accepted; use token_env= or token_file=",
        ));
    }
    Ok(url)
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

fn parse_source(input: &str) -> Result<Source> {
    let s = input.trim();
    let any = Cx {
        what: "source",
        scheme: None,
    };
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
        "vault+https" | "vault+http" => vault(&s["vault+".len()..])?.into(),
        "vault" => {
            return Err(Cx::source("vault").err(
                "scheme",
                "write vault+https://HOST:PORT/v1/MOUNT/data/PATH#FIELD",
            ));
        }
        "aws-sm" => aws_sm(rest)?,
        "aws-sm-agent" => aws_sm_agent(rest)?.into(),
        "gcp-sm" => gcp_sm(rest)?.into(),
        "azure-kv" => azure_kv(rest)?.into(),
        "oauth2+https" | "oauth2+http" => oauth2::oauth2(&s["oauth2+".len()..])?.into(),
        "https" | "http" => generic(s)?.into(),
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

/// `url` is the part after `vault+`: `https://host:port/v1/mount/data/path?opts#field`.
fn vault(url: &str) -> Result<HttpSource> {
    let scheme = if url.len() >= 5 && url[..5].eq_ignore_ascii_case("https") {
        "vault+https"
    } else {
        "vault+http"
    };
    let cx = Cx::source(scheme);
    let (body, query, fragment) = split_parts(url);
    let base = endpoint_url(cx, body)?;
    let path = base.path();
    let Some(rest) = path.strip_prefix("/v1/") else {
        return Err(cx.err("path", "expected /v1/MOUNT/data/PATH (KV version 2)"));
    };
    let Some((mount, secret_path)) = rest.split_once("/data/") else {
        return Err(cx.err("path", "expected /v1/MOUNT/data/PATH (KV version 2)"));
    };
    let (mount, secret_path) = (mount.trim_matches('/'), secret_path.trim_matches('/'));
    if mount.is_empty() || secret_path.is_empty() {
        return Err(cx.err(
            "path",
            "expected /v1/MOUNT/data/PATH with MOUNT and PATH non-empty",
        ));
    }
    let opts = match query {
        Some(q) => Opts::parse(cx, "option", q, &["token_env", "token_file", "namespace"])?,
        None => Opts::none(),
    };
    let token = token(cx, "option", &opts, VAULT_TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let Some(key) = f.key else {
        return Err(cx.err(
            "fragment",
            "missing: name the field that holds the key (…/data/PATH#api_key)",
        ));
    };
    let addr = base.origin().ascii_serialization();
    let mut src = HttpSource::vault_kv2(&addr, mount, secret_path, key, token);
    // The key pointer is the preset's; secret and passphrase are members of the same data.
    if let Some(secret) = f.secret {
        src = src.secret_pointer(format!("/data/data/{}", escape_pointer(secret)));
    }
    if let Some(pass) = f.passphrase {
        src = src.passphrase_pointer(format!("/data/data/{}", escape_pointer(pass)));
    }
    if let Some(ns) = opts.get("namespace") {
        src = src.header("X-Vault-Namespace", HeaderValueFrom::literal(ns));
    }
    Ok(src)
}

/// An AWS secret name or ARN: letters, digits and `/_+=.@-`, plus `:` for ARNs.
fn aws_secret_id(cx: Cx, body: &str) -> Result<&str> {
    if body.is_empty() {
        return Err(cx.err("secret id", "missing (aws-sm://SECRET_NAME_OR_ARN)"));
    }
    if body.len() > 2048
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b))
    {
        return Err(cx.err(
            "secret id",
            "a secret name or ARN is letters, digits and /_+=.@-: only",
        ));
    }
    Ok(body)
}

fn aws_sm(rest: &str) -> Result<Source> {
    let cx = Cx::source("aws-sm");
    #[cfg(not(feature = "aws"))]
    {
        let _ = rest;
        Err(cx.err(
            "scheme",
            "aws-sm:// needs keyswap's `aws` cargo feature (or use aws-sm-agent:// for the \
             Secrets Manager Agent)",
        ))
    }
    #[cfg(feature = "aws")]
    {
        let rest = after_slashes(cx, rest, "aws-sm://SECRET_ID")?;
        let (body, query, fragment) = split_parts(rest);
        let id = aws_secret_id(cx, body)?;
        let opts = match query {
            Some(q) => Opts::parse(cx, "option", q, &["region"])?,
            None => Opts::none(),
        };
        let f = fields(cx, fragment, false)?;
        let mut src = Source::aws_secrets_manager(id);
        if let Some(region) = opts.get("region") {
            if !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(cx.err("option `region`", "expected a region such as us-east-1"));
            }
            src = src.region(region);
        }
        if let Some(key) = f.key {
            src = src.json_key(key);
        }
        if let Some(secret) = f.secret {
            src = src.json_secret(secret);
        }
        Ok(src.into())
    }
}

fn aws_sm_agent(rest: &str) -> Result<HttpSource> {
    let cx = Cx::source("aws-sm-agent");
    let rest = after_slashes(cx, rest, "aws-sm-agent://SECRET_ID")?;
    let (body, query, fragment) = split_parts(rest);
    let id = aws_secret_id(cx, body)?;
    let opts = match query {
        Some(q) => Opts::parse(cx, "option", q, &["token_env", "token_file", "port"])?,
        None => Opts::none(),
    };
    let token = token(cx, "option", &opts, AGENT_TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let mut src =
        HttpSource::aws_secrets_manager_agent(id).header("X-Aws-Parameters-Secrets-Token", token);
    if let Some(port) = opts.get("port") {
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| cx.err("option `port`", "expected a port number (1-65535)"))?;
        src = src.base_url(&format!("http://localhost:{port}"));
    }
    Ok(with_fields(src, "/SecretString", &f))
}

/// A GCP project or secret id (letters, digits, `-`, `_`).
fn gcp_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn gcp_sm(rest: &str) -> Result<HttpSource> {
    let cx = Cx::source("gcp-sm");
    let rest = after_slashes(cx, rest, "gcp-sm://projects/PROJECT/secrets/SECRET")?;
    let (body, query, fragment) = split_parts(rest);
    let segments: Vec<&str> = body.trim_end_matches('/').split('/').collect();
    let (project, secret) = match segments.as_slice() {
        ["projects", p, "secrets", s] => (*p, *s),
        [p, s] => (*p, *s),
        _ => {
            return Err(cx.err(
                "path",
                "expected gcp-sm://projects/PROJECT/secrets/SECRET or gcp-sm://PROJECT/SECRET",
            ));
        }
    };
    if !gcp_id(project) || !gcp_id(secret) {
        return Err(cx.err(
            "path",
            "project and secret ids are letters, digits, `-` and `_`",
        ));
    }
    let opts = match query {
        Some(q) => Opts::parse(cx, "option", q, &["token_env", "token_file"])?,
        None => Opts::none(),
    };
    let token = token(cx, "option", &opts, GCP_TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let src = HttpSource::gcp_secret_manager(project, secret, token);
    Ok(with_fields(src, "/payload/data", &f))
}

fn azure_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn azure_kv(rest: &str) -> Result<HttpSource> {
    let cx = Cx::source("azure-kv");
    let rest = after_slashes(cx, rest, "azure-kv://VAULT/SECRET")?;
    let (body, query, fragment) = split_parts(rest);
    let lower = body.get(..8).unwrap_or_default().to_ascii_lowercase();
    let (vault_url, name) = if lower.starts_with("https://") || lower.starts_with("http://") {
        let url = endpoint_url(cx, body)?;
        let path = url.path().trim_end_matches('/');
        let name = path
            .strip_prefix("/secrets/")
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| {
                cx.err(
                    "path",
                    "expected https://VAULT.vault.azure.net/secrets/SECRET",
                )
            })?;
        (url.origin().ascii_serialization(), name.to_owned())
    } else {
        let Some((vault, name)) = body.trim_end_matches('/').split_once('/') else {
            return Err(cx.err("path", "expected azure-kv://VAULT/SECRET"));
        };
        if vault.len() < 3 || !azure_name(vault, 24) {
            return Err(cx.err("host", "a vault name is 3-24 letters, digits and `-`"));
        }
        (format!("https://{vault}.vault.azure.net"), name.to_owned())
    };
    if !azure_name(&name, 127) {
        return Err(cx.err("path", "a secret name is 1-127 letters, digits and `-`"));
    }
    let opts = match query {
        Some(q) => Opts::parse(cx, "option", q, &["token_env", "token_file"])?,
        None => Opts::none(),
    };
    let token = token(cx, "option", &opts, AZURE_TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let src = HttpSource::azure_key_vault(&vault_url, &name, token);
    Ok(with_fields(src, "/value", &f))
}

/// `https://host/path?query#/pointer&opts`: a generic JSON endpoint.
fn generic(s: &str) -> Result<HttpSource> {
    let scheme = if s[..5].eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    };
    let cx = Cx::source(scheme);
    let (url_text, fragment) = match s.split_once('#') {
        Some((u, f)) => (u, Some(f).filter(|f| !f.is_empty())),
        None => (s, None),
    };
    let url = endpoint_url(cx, url_text)?;
    let mut key = "/key";
    let mut opts = Opts::none();
    if let Some(fragment) = fragment {
        if fragment.contains('?') {
            return Err(cx.err(
                "fragment",
                "contains `?`: a generic endpoint takes its options in the fragment, after `&`",
            ));
        }
        let (first, rest) = match fragment.split_once('&') {
            Some((f, r)) => (f, Some(r)),
            None => (fragment, None),
        };
        let opts_text = if first.contains('=') {
            Some(fragment)
        } else {
            check_pointer(cx, "fragment", first)?;
            key = first;
            rest
        };
        if let Some(text) = opts_text {
            opts = Opts::parse(
                cx,
                "fragment option",
                text,
                &[
                    "key",
                    "secret",
                    "passphrase",
                    "version",
                    "expiry",
                    "token_env",
                    "token_file",
                    "token_header",
                ],
            )?;
        }
        if let Some(k) = opts.get("key") {
            if !first.contains('=') {
                return Err(cx.err(
                    "fragment option `key`",
                    "given twice (also before the first `&`)",
                ));
            }
            key = k;
        }
        for name in ["key", "secret", "passphrase", "version", "expiry"] {
            if let Some(p) = opts.get(name) {
                check_pointer(cx, &format!("fragment option `{name}`"), p)?;
            }
        }
    }
    let mut src = HttpSource::new(url.as_str()).key_pointer(key);
    if let Some(p) = opts.get("secret") {
        src = src.secret_pointer(p);
    }
    if let Some(p) = opts.get("passphrase") {
        src = src.passphrase_pointer(p);
    }
    if let Some(p) = opts.get("version") {
        src = src.version_pointer(p);
    }
    if let Some(p) = opts.get("expiry") {
        src = src.expiry_pointer(p);
    }
    let has_token = opts.get("token_env").is_some() || opts.get("token_file").is_some();
    if has_token {
        let token = token(cx, "fragment option", &opts, "")?;
        match opts.get("token_header") {
            Some(name) => {
                if HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(cx.err(
                        "fragment option `token_header`",
                        "not a valid HTTP header name",
                    ));
                }
                src = src.header(name, token);
            }
            None => src = src.bearer(token),
        }
    } else if opts.get("token_header").is_some() {
        return Err(cx.err(
            "fragment option `token_header`",
            "needs token_env= or token_file=",
        ));
    }
    Ok(src)
}

// ---------------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------------

fn parse_auth(input: &str) -> Result<Auth> {
    let s = input.trim();
    let any = Cx {
        what: "auth",
        scheme: None,
    };
    if s.is_empty() {
        return Err(any.err(
            "kind",
            format!("empty string; expected one of {AUTH_KINDS}"),
        ));
    }
    // `kind:arg` or `kind[?options]`.
    let (kind, arg) = match s.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (s, None),
    };
    let (kind, query) = match (arg, kind.split_once('?')) {
        (None, Some((k, q))) => (k, Some(q)),
        _ => (kind, None),
    };
    let kind_lower = kind.to_ascii_lowercase();
    let known: Option<&'static str> = [
        "bearer", "header", "query", "basic", "binance", "bybit", "coinbase", "kraken", "okx",
    ]
    .into_iter()
    .find(|k| *k == kind_lower);
    let Some(kind) = known else {
        return Err(any.err("kind", format!("unknown; expected one of {AUTH_KINDS}")));
    };
    let cx = Cx::auth(kind);
    let takes_arg = matches!(kind, "header" | "query" | "basic");
    let arg = match (takes_arg, arg) {
        (true, None) | (true, Some("")) => {
            return Err(cx.err("argument", format!("missing; write {kind}:NAME")));
        }
        (false, Some(_)) => {
            return Err(cx.err("argument", format!("{kind} takes no `:` argument")));
        }
        (_, a) => a.unwrap_or_default(),
    };
    let opts = |allowed: &[&str]| -> Result<Opts<'_>> {
        match query {
            Some(q) if !q.is_empty() => Opts::parse(cx, "option", q, allowed),
            _ => Ok(Opts::none()),
        }
    };
    Ok(match kind {
        "bearer" => {
            opts(&[])?;
            Auth::bearer()
        }
        "header" => {
            Auth::try_header(arg).map_err(|_| cx.err("argument", "not a valid HTTP header name"))?
        }
        "query" => {
            if arg
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "&=#?".contains(c))
            {
                return Err(cx.err(
                    "argument",
                    "a query parameter name without spaces, control characters or &=#?",
                ));
            }
            Auth::query(arg)
        }
        "basic" => {
            if arg.contains(':') || arg.chars().any(char::is_control) {
                return Err(cx.err(
                    "argument",
                    "a basic-auth user name contains no `:` or control characters (the key is \
                     the password, never part of the string)",
                ));
            }
            Auth::basic(arg)
        }
        "binance" => Auth::signer(binance(cx, &opts(&["recv_window"])?)?),
        "bybit" => Auth::signer(bybit(cx, &opts(&["recv_window"])?)?),
        "coinbase" => Auth::signer(coinbase(cx, &opts(&["lifetime"])?)?),
        "kraken" => Auth::signer(kraken(cx, &opts(&["nonce"])?)?),
        "okx" => {
            opts(&[])?;
            Auth::signer(OkxSigner::new())
        }
        _ => return Err(cx.err("kind", "not a known authentication kind")),
    })
}

fn millis(cx: Cx, name: &str, value: &str) -> Result<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|ms| (1..=60_000).contains(ms))
        .ok_or_else(|| {
            cx.err(
                &format!("option `{name}`"),
                "expected milliseconds, 1 to 60000",
            )
        })
}

fn binance(cx: Cx, opts: &Opts<'_>) -> Result<BinanceSigner> {
    Ok(match opts.get("recv_window") {
        None => BinanceSigner::new(),
        Some(v) if v.eq_ignore_ascii_case("none") => BinanceSigner::new().without_recv_window(),
        Some(v) => BinanceSigner::new().recv_window_ms(millis(cx, "recv_window", v)?),
    })
}

fn bybit(cx: Cx, opts: &Opts<'_>) -> Result<BybitSigner> {
    Ok(match opts.get("recv_window") {
        None => BybitSigner::new(),
        Some(v) => BybitSigner::new().recv_window_ms(millis(cx, "recv_window", v)?),
    })
}

fn coinbase(cx: Cx, opts: &Opts<'_>) -> Result<CoinbaseSigner> {
    Ok(match opts.get("lifetime") {
        None => CoinbaseSigner::new(),
        Some(v) => {
            let secs = v
                .parse::<i64>()
                .ok()
                .filter(|s| (1..=120).contains(s))
                .ok_or_else(|| cx.err("option `lifetime`", "expected seconds, 1 to 120"))?;
            CoinbaseSigner::new().lifetime_secs(secs)
        }
    })
}

fn kraken(cx: Cx, opts: &Opts<'_>) -> Result<KrakenSigner> {
    Ok(match opts.get("nonce") {
        None => KrakenSigner::new(),
        Some(v) if v.eq_ignore_ascii_case("ms") => KrakenSigner::new(),
        Some(v) if v.eq_ignore_ascii_case("us") => {
            KrakenSigner::new().nonce_unit(NonceUnit::Micros)
        }
        Some(_) => return Err(cx.err("option `nonce`", "expected ms or us")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Debug` of the endpoint source a string describes (headers, pointers, decode steps).
    fn http_debug(s: &str) -> String {
        let (scheme, rest) = s.split_once(':').unwrap();
        let src = match scheme {
            "vault+https" | "vault+http" => vault(&s[6..]),
            "aws-sm-agent" => aws_sm_agent(rest),
            "gcp-sm" => gcp_sm(rest),
            "azure-kv" => azure_kv(rest),
            _ => generic(s),
        };
        format!("{:?}", src.unwrap())
    }

    #[test]
    fn vault_token_fields_and_namespace() {
        let d = http_debug("vault+https://v:8200/v1/secret/data/app#api_key");
        assert!(d.contains("HeaderValueFrom::env(VAULT_TOKEN)"), "{d}");
        assert!(d.contains("key: \"/data/data/api_key\""), "{d}");
        assert!(
            d.contains("version: Some(\"/data/metadata/version\")"),
            "{d}"
        );

        let d = http_debug(
            "vault+https://v/v1/kv/team/data/a/b?token_file=/vault/token&namespace=ns1#k&secret=s/x&passphrase=p",
        );
        assert!(d.contains("HeaderValueFrom::file(/vault/token)"), "{d}");
        assert!(d.contains("X-Vault-Namespace"), "{d}");
        assert!(d.contains("https://v/v1/kv/team/data/a/b"), "{d}");
        assert!(d.contains("secret: Some(\"/data/data/s~1x\")"), "{d}");
        assert!(d.contains("passphrase: Some(\"/data/data/p\")"), "{d}");

        let d = http_debug("vault+http://127.0.0.1:8200/v1/secret/data/app?token_env=MY_TOKEN#k");
        assert!(d.contains("HeaderValueFrom::env(MY_TOKEN)"), "{d}");
    }

    #[test]
    fn presets_decode_json_when_a_field_is_named() {
        let d = http_debug("aws-sm-agent://prod/exchange#api_key&secret=api_secret");
        assert!(d.contains("HeaderValueFrom::env(AWS_SESSION_TOKEN)"), "{d}");
        assert!(d.contains("Json(\"/SecretString\")"), "{d}");
        assert!(d.contains("key: \"/SecretString/api_key\""), "{d}");
        assert!(
            d.contains("secret: Some(\"/SecretString/api_secret\")"),
            "{d}"
        );
        let d = http_debug("aws-sm-agent://prod/exchange?port=2999&token_file=/run/agent");
        assert!(
            d.contains("http://localhost:2999/secretsmanager/get"),
            "{d}"
        );
        assert!(d.contains("HeaderValueFrom::file(/run/agent)"), "{d}");
        assert!(d.contains("key: \"/SecretString\""), "{d}");
        assert!(!d.contains("Json("), "{d}");

        let d = http_debug("gcp-sm://projects/p-1/secrets/s_1#api_key");
        assert!(
            d.contains("HeaderValueFrom::env(GOOGLE_OAUTH_ACCESS_TOKEN)"),
            "{d}"
        );
        assert!(
            d.contains("[Base64(\"/payload/data\"), Json(\"/payload/data\")]"),
            "{d}"
        );
        assert!(d.contains("key: \"/payload/data/api_key\""), "{d}");

        let d = http_debug("azure-kv://my-vault/exchange-key?token_env=AZ_TOK#k&secret=s");
        assert!(d.contains("HeaderValueFrom::env(AZ_TOK)"), "{d}");
        assert!(
            d.contains("https://my-vault.vault.azure.net/secrets/exchange-key"),
            "{d}"
        );
        assert!(d.contains("key: \"/value/k\""), "{d}");
        let d = http_debug("azure-kv://my-vault/exchange-key");
        assert!(
            d.contains("HeaderValueFrom::env(AZURE_ACCESS_TOKEN)"),
            "{d}"
        );
        assert!(d.contains("key: \"/value\""), "{d}");
    }

    #[test]
    fn generic_fragment_options() {
        let d = http_debug("https://h/creds?x=1");
        assert!(d.contains("key: \"/key\""), "{d}");
        assert!(!d.contains("authorization"), "{d}");
        let d = http_debug(
            "https://h/creds#/data/key&secret=/data/secret&version=/v&expiry=/exp&token_env=TOK",
        );
        assert!(d.contains("key: \"/data/key\""), "{d}");
        assert!(d.contains("secret: Some(\"/data/secret\")"), "{d}");
        assert!(d.contains("version: Some(\"/v\")"), "{d}");
        assert!(d.contains("expiry: Some(\"/exp\")"), "{d}");
        assert!(
            d.contains("(\"authorization\", HeaderValueFrom::env(TOK))"),
            "{d}"
        );
        let d = http_debug("https://h/creds#key=/k&token_file=/t&token_header=X-Token");
        assert!(d.contains("key: \"/k\""), "{d}");
        assert!(
            d.contains("(\"X-Token\", HeaderValueFrom::file(/t))"),
            "{d}"
        );
    }

    #[test]
    fn signer_options() {
        let cx = Cx::auth("binance");
        let parse = |q: &'static str| Opts::parse(cx, "option", q, &["recv_window"]).unwrap();
        assert_eq!(
            binance(cx, &parse("recv_window=10000")).unwrap(),
            BinanceSigner::new().recv_window_ms(10_000)
        );
        assert_eq!(
            binance(cx, &parse("recv_window=none")).unwrap(),
            BinanceSigner::new().without_recv_window()
        );
        assert_eq!(binance(cx, &Opts::none()).unwrap(), BinanceSigner::new());
        assert!(binance(cx, &parse("recv_window=0")).is_err());
        assert_eq!(
            bybit(cx, &parse("recv_window=20000")).unwrap(),
            BybitSigner::new().recv_window_ms(20_000)
        );
        let nonce = Opts::parse(cx, "option", "nonce=us", &["nonce"]).unwrap();
        assert_eq!(
            kraken(cx, &nonce).unwrap(),
            KrakenSigner::new().nonce_unit(NonceUnit::Micros)
        );
        let life = Opts::parse(cx, "option", "lifetime=60", &["lifetime"]).unwrap();
        assert_eq!(
            format!("{:?}", coinbase(cx, &life).unwrap()),
            format!("{:?}", CoinbaseSigner::new().lifetime_secs(60))
        );
    }
}
