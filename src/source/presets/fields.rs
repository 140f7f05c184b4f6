//! The rules the endpoint presets share: a member of a JSON secret as a pointer, the
//! `#FIELD[&secret=FIELD][&passphrase=FIELD]` fragment, and the token options.

use crate::config::grammar::{Cx, Opts, check_field, is_env_name, key_and_opts};
use crate::error::Result;
use crate::source::http::{HeaderValueFrom, HttpSource};

/// Where AWS `GetSecretValue` (and the agent) put the secret.
pub(in crate::source) const SECRET_STRING: &str = "/SecretString";

/// Member `field` of the JSON value at pointer `at`, as a pointer (RFC 6901: in the field,
/// `~` → `~0`, `/` → `~1`).
pub(in crate::source) fn member(at: &str, field: &str) -> String {
    format!("{at}/{}", field.replace('~', "~0").replace('/', "~1"))
}

/// The token header value from `token_env=` / `token_file=`, else from `default_env`.
pub(super) fn token(
    cx: Cx,
    part: &str,
    opts: &Opts<'_>,
    default_env: &str,
) -> Result<HeaderValueFrom> {
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
pub(super) struct Fields<'a> {
    pub(super) key: Option<&'a str>,
    pub(super) secret: Option<&'a str>,
    pub(super) passphrase: Option<&'a str>,
}

pub(super) fn fields<'a>(
    cx: Cx,
    fragment: Option<&'a str>,
    passphrase: bool,
) -> Result<Fields<'a>> {
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
    let allowed: &[&str] = if passphrase {
        &["key", "secret", "passphrase"]
    } else {
        &["key", "secret"]
    };
    let (key, opts) = key_and_opts(cx, fragment, allowed, |_| Ok(()))?;
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
pub(super) fn with_fields(mut src: HttpSource, at: &str, f: &Fields<'_>) -> HttpSource {
    if let Some(key) = f.key {
        src = src.decode_json_at(at).key_pointer(member(at, key));
    }
    members(src, at, f)
}

/// Applies the secret and passphrase fields of `f` (members of the JSON at `at`), for a preset
/// that already points at the key.
pub(super) fn members(mut src: HttpSource, at: &str, f: &Fields<'_>) -> HttpSource {
    if let Some(secret) = f.secret {
        src = src.secret_pointer(member(at, secret));
    }
    if let Some(pass) = f.passphrase {
        src = src.passphrase_pointer(member(at, pass));
    }
    src
}

/// The `Debug` of what a string form built (its headers, pointers and decode steps), for the
/// forms' tests.
#[cfg(test)]
pub(super) fn shown<T: std::fmt::Debug>(parsed: Result<T>) -> String {
    format!("{:?}", parsed.expect("the string parses"))
}

/// Fails unless `shown` holds every one of `parts`.
#[cfg(test)]
pub(super) fn has_all(shown: &str, parts: &[&str]) {
    for part in parts {
        assert!(shown.contains(part), "{part:?} missing from {shown}");
    }
}
