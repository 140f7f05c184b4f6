//! The grammar shared by configuration strings: the error context ([`Cx`]), `name=value`
//! options ([`Opts`]), and the rules for the parts every form has (scheme, endpoint URL, field
//! names, JSON pointers, variable names). It knows no source, auth or client type: the forms
//! themselves live next to what they build (`source::presets`, `auth::parse`).
//!
//! Errors name the part of the string that is wrong and never repeat what the string holds
//! beyond the scheme and option names: a token pasted into a query or fragment, or a password
//! in `user:password@`, does not reach a log through an error message.

use reqwest::Url;

use crate::error::{Error, Result};
use crate::scope::is_loopback;

/// What a string is being parsed as, and under which scheme: the context of every message.
#[derive(Clone, Copy)]
pub(crate) struct Cx {
    what: &'static str,
    scheme: Option<&'static str>,
}

impl Cx {
    /// A string of kind `what` (`"source"`, `"auth"`) whose scheme is not known yet.
    pub(crate) fn any(what: &'static str) -> Self {
        Cx { what, scheme: None }
    }

    pub(crate) fn source(scheme: &'static str) -> Self {
        Cx {
            what: "source",
            scheme: Some(scheme),
        }
    }

    /// A source string whose URL (`url`, the part after any `name+`) is `https://…` (scheme
    /// `https`) or else `http://…` (`http`).
    pub(crate) fn source_by_tls(url: &str, https: &'static str, http: &'static str) -> Self {
        let secure = url
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        Cx::source(if secure { https } else { http })
    }

    pub(crate) fn auth(kind: &'static str) -> Self {
        Cx {
            what: "auth",
            scheme: Some(kind),
        }
    }

    /// An error about `part` (scheme, host, path, fragment, option `x`). `why` must not contain
    /// anything taken from the input except names vetted by [`shown`].
    pub(crate) fn err(self, part: &str, why: impl std::fmt::Display) -> Error {
        match self.scheme {
            Some(scheme) => Error::builder(format!(
                "invalid {} string ({scheme}): {part}: {why}",
                self.what
            )),
            None => Error::builder(format!("invalid {} string: {part}: {why}", self.what)),
        }
    }
}

/// Option names a message may show besides those the form accepts: the names the forms share,
/// and a few a user may write by mistake. Any other name is described, not shown: it could be a
/// pasted token.
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

/// An option name as it may appear in a message: one the form accepts (`allowed`), or one of
/// [`NAMES`].
fn shown(name: &str, allowed: &[&str]) -> String {
    match allowed.iter().chain(NAMES).find(|n| **n == name) {
        Some(n) => format!("`{n}`"),
        None => "(unknown name, not shown)".to_owned(),
    }
}

/// `name=value` pairs joined by `&`, checked against the names a form accepts.
pub(crate) struct Opts<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Opts<'a> {
    pub(crate) fn none() -> Self {
        Opts { pairs: Vec::new() }
    }

    /// Parses `text` (`a=1&b=2`); `part` is how messages call these ("option", "fragment
    /// option").
    pub(crate) fn parse(cx: Cx, part: &str, text: &'a str, allowed: &[&str]) -> Result<Self> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for item in text.split('&') {
            if item.is_empty() {
                return Err(cx.err(part, "empty option (a stray `&`?)"));
            }
            let Some((name, value)) = item.split_once('=') else {
                return Err(cx.err(part, "expected name=value"));
            };
            let label = format!("{part} {}", shown(name, allowed));
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

    /// [`parse`](Self::parse) of a part the string may leave out (`None`: no options).
    pub(crate) fn parse_opt(
        cx: Cx,
        part: &str,
        text: Option<&'a str>,
        allowed: &[&str],
    ) -> Result<Self> {
        match text {
            Some(text) => Opts::parse(cx, part, text, allowed),
            None => Ok(Opts::none()),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// A fragment `HEAD[&name=value…]` or `name=value[&…]`, parsed: HEAD (its first item, unless
/// that is a `name=value`) is what option `key` would give (a field, a pointer). Giving both is
/// an error; the key is `None` when neither is given. `check_head` runs on HEAD before the
/// options are parsed.
pub(crate) fn key_and_opts<'a>(
    cx: Cx,
    fragment: &'a str,
    allowed: &[&str],
    check_head: impl FnOnce(&str) -> Result<()>,
) -> Result<(Option<&'a str>, Opts<'a>)> {
    let (first, rest) = match fragment.split_once('&') {
        Some((f, r)) => (f, Some(r)),
        None => (fragment, None),
    };
    let (head, opts_text) = if first.contains('=') {
        (None, Some(fragment))
    } else {
        check_head(first)?;
        (Some(first), rest)
    };
    let opts = Opts::parse_opt(cx, "fragment option", opts_text, allowed)?;
    if head.is_some() && opts.get("key").is_some() {
        return Err(cx.err(
            "fragment option `key`",
            "given twice (also before the first `&`)",
        ));
    }
    Ok((head.or(opts.get("key")), opts))
}

/// Splits `body[?query][#fragment]`. Empty query or fragment count as absent.
pub(crate) fn split_parts(s: &str) -> (&str, Option<&str>, Option<&str>) {
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

pub(crate) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// A field name (`api_key`): no control characters, no `?` or `#` (which mean an option or a
/// fragment was put in the wrong place).
pub(crate) fn check_field(cx: Cx, part: &str, field: &str) -> Result<()> {
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
pub(crate) fn check_pointer(cx: Cx, part: &str, pointer: &str) -> Result<()> {
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

/// `//` after the scheme, as in `aws-sm://id`.
pub(crate) fn after_slashes<'a>(cx: Cx, rest: &'a str, example: &str) -> Result<&'a str> {
    rest.strip_prefix("//").ok_or_else(|| {
        cx.err(
            "scheme",
            format!("expected `//` after the scheme ({example})"),
        )
    })
}

/// A URL as a base (`https://host:port`): https, or http to loopback; no credentials, no
/// query or fragment.
pub(crate) fn endpoint_url(cx: Cx, text: &str) -> Result<Url> {
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

/// A number option (`recv_window=5000`); its range is checked by whoever takes it.
pub(crate) fn number<T: std::str::FromStr>(
    cx: Cx,
    name: &str,
    value: &str,
    unit: &str,
) -> Result<T> {
    value
        .parse::<T>()
        .map_err(|_| cx.err(&format!("option `{name}`"), format!("expected {unit}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_names_its_key_first_or_as_an_option_never_both() {
        let cx = Cx::source("test");
        let allowed = ["key", "secret"];
        let ok = |_: &str| Ok(());
        let (key, opts) = key_and_opts(cx, "k&secret=s", &allowed, ok).unwrap();
        assert_eq!((key, opts.get("secret")), (Some("k"), Some("s")));
        let (key, opts) = key_and_opts(cx, "secret=s&key=k", &allowed, ok).unwrap();
        assert_eq!((key, opts.get("secret")), (Some("k"), Some("s")));
        let (key, _) = key_and_opts(cx, "secret=s", &allowed, ok).unwrap();
        assert_eq!(key, None);
        let err = key_and_opts(cx, "k&key=j", &allowed, ok).err().unwrap();
        assert!(err.to_string().contains("given twice"), "{err}");
        // The head is checked before the options are parsed, and only a head is.
        let refuse = |_: &str| Err(cx.err("fragment", "refused"));
        let err = key_and_opts(cx, "k&bogus", &allowed, refuse).err().unwrap();
        assert!(err.to_string().contains("refused"), "{err}");
        assert!(key_and_opts(cx, "key=k", &allowed, refuse).is_ok());
    }
}
