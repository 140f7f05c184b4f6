//! A generic JSON endpoint, by configuration string:
//! `https://HOST/PATH[?QUERY][#POINTER[&POPTS]]` ([`HttpSource`] with pointers).

use reqwest::header::HeaderName;

use super::fields::token;
use crate::config::grammar::{Cx, Opts, check_pointer, endpoint_url, key_and_opts};
use crate::error::Result;
use crate::source::http::HttpSource;

/// `https://host/path?query#/pointer&opts`: a generic JSON endpoint.
pub(super) fn parse(s: &str) -> Result<HttpSource> {
    let cx = Cx::source_by_tls(s, "https", "http");
    let (url_text, fragment) = match s.split_once('#') {
        Some((u, f)) => (u, Some(f).filter(|f| !f.is_empty())),
        None => (s, None),
    };
    let url = endpoint_url(cx, url_text)?;
    let (key, opts) = match fragment {
        None => (None, Opts::none()),
        Some(fragment) => {
            if fragment.contains('?') {
                return Err(cx.err(
                    "fragment",
                    "contains `?`: a generic endpoint takes its options in the fragment, after `&`",
                ));
            }
            key_and_opts(
                cx,
                fragment,
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
                |head| check_pointer(cx, "fragment", head),
            )?
        }
    };
    for name in ["key", "secret", "passphrase", "version", "expiry"] {
        if let Some(p) = opts.get(name) {
            check_pointer(cx, &format!("fragment option `{name}`"), p)?;
        }
    }
    let mut src = HttpSource::new(url.as_str()).key_pointer(key.unwrap_or("/key"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::presets::fields::{has_all, shown};

    #[test]
    fn generic_fragment_options() {
        let d = shown(parse("https://h/creds?x=1"));
        has_all(&d, &["key: \"/key\""]);
        assert!(!d.contains("authorization"), "{d}");
        let d = shown(parse(
            "https://h/creds#/data/key&secret=/data/secret&version=/v&expiry=/exp&token_env=TOK",
        ));
        has_all(
            &d,
            &[
                "key: \"/data/key\"",
                "secret: Some(\"/data/secret\")",
                "version: Some(\"/v\")",
                "expiry: Some(\"/exp\")",
                "(\"authorization\", HeaderValueFrom::env(TOK))",
            ],
        );
        let d = shown(parse(
            "https://h/creds#key=/k&token_file=/t&token_header=X-Token",
        ));
        has_all(
            &d,
            &["key: \"/k\"", "(\"X-Token\", HeaderValueFrom::file(/t))"],
        );
    }
}
