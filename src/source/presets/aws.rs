//! AWS Secrets Manager: the agent preset (`aws-sm-agent://`) and the configuration strings of
//! the agent and of the SDK source (`aws-sm://`, cargo feature `aws`).

use super::fields::{SECRET_STRING, fields, token, with_fields};
use crate::config::grammar::{Cx, Opts, after_slashes, split_parts};
use crate::error::Result;
use crate::source::handle::Source;
use crate::source::http::{HeaderValueFrom, HttpSource};

/// The token variable sent by default (the Lambda extension expects `AWS_SESSION_TOKEN`).
const TOKEN_ENV: &str = "AWS_SESSION_TOKEN";
/// The header the agent reads its token from.
const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";

impl HttpSource {
    /// The AWS Secrets Manager Agent, or the AWS Parameters and Secrets Lambda Extension:
    /// a local HTTP cache in front of `GetSecretValue`.
    ///
    /// Request: `GET http://localhost:2773/secretsmanager/get?secretId={secret_id}` with
    /// `X-Aws-Parameters-Secrets-Token: <token>` (the extension expects the value of
    /// `AWS_SESSION_TOKEN`, which is what is sent by default; re-point the header with
    /// `.header("X-Aws-Parameters-Secrets-Token", ..)` for an agent configured with its own
    /// token file). Move the port with `.base_url("http://localhost:PORT")`.
    /// Response: the `GetSecretValue` JSON:
    ///
    /// ```json
    /// {
    ///   "ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestSecret-a1b2c3",
    ///   "Name": "MyTestSecret",
    ///   "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    ///   "SecretString": "…",
    ///   "VersionStages": ["AWSCURRENT"],
    ///   "CreatedDate": 1523477145.713
    /// }
    /// ```
    ///
    /// The key is the whole `SecretString` and the version its `VersionId`. The agent caches
    /// the secret (`ttl_seconds`, 300 by default): scheduled polls read its cache, while the
    /// refresh after a rejection and `Client::refresh` add `refreshNow=true`, which the agent
    /// documents for getting past it, so a hard revocation costs no more than a key in a file
    /// ([`bypass_cache_query`](HttpSource::bypass_cache_query)). For a JSON secret
    /// (`{"api_key": "…", "api_secret": "…"}`) decode it first:
    ///
    /// ```
    /// use keyswap::Source;
    /// let source = Source::aws_secrets_manager_agent("prod/exchange")
    ///     .decode_json_at("/SecretString")
    ///     .key_pointer("/SecretString/api_key")
    ///     .secret_pointer("/SecretString/api_secret");
    /// # let _ = source;
    /// ```
    pub fn aws_secrets_manager_agent(secret_id: &str) -> HttpSource {
        let mut url = url::Url::parse("http://localhost:2773/secretsmanager/get")
            .expect("a valid constant URL");
        url.query_pairs_mut().append_pair("secretId", secret_id);
        HttpSource::new(url.as_str())
            .header(TOKEN_HEADER, HeaderValueFrom::env(TOKEN_ENV))
            .key_pointer(SECRET_STRING)
            .version_pointer("/VersionId")
            .bypass_cache_query("refreshNow", "true")
    }
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

pub(super) fn parse_sm(rest: &str) -> Result<Source> {
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
        let opts = Opts::parse_opt(cx, "option", query, &["region"])?;
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

pub(super) fn parse_agent(rest: &str) -> Result<HttpSource> {
    let cx = Cx::source("aws-sm-agent");
    let rest = after_slashes(cx, rest, "aws-sm-agent://SECRET_ID")?;
    let (body, query, fragment) = split_parts(rest);
    let id = aws_secret_id(cx, body)?;
    let opts = Opts::parse_opt(cx, "option", query, &["token_env", "token_file", "port"])?;
    let token = token(cx, "option", &opts, TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let mut src = HttpSource::aws_secrets_manager_agent(id).header(TOKEN_HEADER, token);
    if let Some(port) = opts.get("port") {
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| cx.err("option `port`", "expected a port number (1-65535)"))?;
        src = src.base_url(&format!("http://localhost:{port}"));
    }
    Ok(with_fields(src, SECRET_STRING, &f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::presets::fields::{has_all, shown};

    #[test]
    fn the_agent_string_decodes_json_when_a_field_is_named() {
        let d = shown(parse_agent("//prod/exchange#api_key&secret=api_secret"));
        has_all(
            &d,
            &[
                "HeaderValueFrom::env(AWS_SESSION_TOKEN)",
                "Json(\"/SecretString\")",
                "key: \"/SecretString/api_key\"",
                "secret: Some(\"/SecretString/api_secret\")",
            ],
        );
        let d = shown(parse_agent(
            "//prod/exchange?port=2999&token_file=/run/agent",
        ));
        has_all(
            &d,
            &[
                "http://localhost:2999/secretsmanager/get",
                "HeaderValueFrom::file(/run/agent)",
                "key: \"/SecretString\"",
            ],
        );
        assert!(!d.contains("Json("), "{d}");
    }
}
