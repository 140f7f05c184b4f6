//! The configuration string of an OAuth2 client-credentials source:
//! `oauth2+https://HOST/PATH?client_id=ID&secret_file=PATH[&OPTS]` (see [`Source::parse`]).

use crate::config::grammar::{Cx, Opts, endpoint_url, is_env_name, split_parts};
use crate::error::Result;
use crate::source::handle::Source;
use crate::source::oauth2::{ClientAuthMethod, OAuth2ClientCredentials};

/// The options of the form.
const OPTIONS: &[&str] = &[
    "client_id",
    "secret_file",
    "secret_env",
    "auth",
    "scope",
    "audience",
    "resource",
];

/// `url` is the part after `oauth2+`: `https://host/token?opts`.
pub(super) fn parse(url: &str) -> Result<OAuth2ClientCredentials> {
    let cx = Cx::source_by_tls(url, "oauth2+https", "oauth2+http");
    let (body, query, fragment) = split_parts(url);
    if fragment.is_some() {
        return Err(cx.err("fragment", "not supported here"));
    }
    let token_url = endpoint_url(cx, body)?;
    let Some(query) = query else {
        return Err(cx.err(
            "option",
            "missing: give client_id= and secret_file= or secret_env=",
        ));
    };
    let opts = Opts::parse(cx, "option", query, OPTIONS)?;
    let Some(client_id) = opts.get("client_id") else {
        return Err(cx.err("option `client_id`", "missing"));
    };
    let secret: Source = match (opts.get("secret_file"), opts.get("secret_env")) {
        (Some(_), Some(_)) => {
            return Err(cx.err("option", "give secret_file= or secret_env=, not both"));
        }
        (Some(path), None) => Source::file(path).into(),
        (None, Some(var)) if is_env_name(var) => Source::env(var).into(),
        (None, Some(_)) => {
            return Err(cx.err(
                "option `secret_env`",
                "expected a variable name made of letters, digits and `_`",
            ));
        }
        (None, None) => {
            return Err(cx.err(
                "option",
                "missing: give secret_file=PATH or secret_env=NAME (where the client secret is)",
            ));
        }
    };
    let mut source = Source::oauth2_client_credentials(token_url.as_str(), client_id, secret);
    if let Some(auth) = opts.get("auth") {
        let method = ClientAuthMethod::parse(auth).ok_or_else(|| {
            cx.err(
                "option `auth`",
                "expected client_secret_basic, client_secret_post or private_key_jwt (or basic, post, jwt)",
            )
        })?;
        source = source.auth_method(method);
    }
    if let Some(scope) = opts.get("scope") {
        // A string cannot hold a space here: scopes are separated by commas.
        source = source.scope(scope.replace(',', " "));
    }
    if let Some(audience) = opts.get("audience") {
        source = source.audience(audience);
    }
    if let Some(resource) = opts.get("resource") {
        source = source.resource(resource);
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use crate::Source;

    #[test]
    fn the_string_form_builds_the_source_and_refuses_what_is_missing() {
        let src = Source::parse(
            "oauth2+https://login.example.com/oauth2/token?client_id=billing&secret_file=/run/secrets/oauth&auth=post&scope=a:read,a:write",
        )
        .unwrap();
        assert_eq!(
            src.name(),
            "oauth2:https://login.example.com/oauth2/token (client_id billing)"
        );
        let shown = format!("{src:?}");
        assert!(shown.contains("oauth2:"), "{shown}");
        for (bad, says) in [
            (
                "oauth2+https://as.example/token",
                "client_id= and secret_file=",
            ),
            (
                "oauth2+https://as.example/token?secret_env=S",
                "`client_id`: missing",
            ),
            (
                "oauth2+https://as.example/token?client_id=x",
                "secret_file=PATH or secret_env=NAME",
            ),
            (
                "oauth2+https://as.example/token?client_id=x&secret_env=A&secret_file=/f",
                "not both",
            ),
            (
                "oauth2+https://as.example/token?client_id=x&secret_env=A&auth=magic",
                "private_key_jwt",
            ),
            (
                "oauth2+http://as.example/token?client_id=x&secret_env=A",
                "loopback",
            ),
            (
                "oauth2+https://as.example/token?client_id=x&client_secret=hunter2",
                "not supported",
            ),
        ] {
            let err = Source::parse(bad).unwrap_err();
            let msg = err.to_string();
            assert!(err.is_builder() && msg.contains(says), "{bad}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }
}
