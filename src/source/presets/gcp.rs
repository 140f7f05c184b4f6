//! Google Cloud Secret Manager: the preset and its configuration string
//! `gcp-sm://projects/PROJECT/secrets/SECRET[?OPTS][#FIELD[&FOPTS]]` (or `gcp-sm://PROJECT/SECRET`).

use super::fields::{fields, token, with_fields};
use crate::config::grammar::{Cx, Opts, after_slashes, split_parts};
use crate::error::Result;
use crate::source::http::{HeaderValueFrom, HttpSource};

/// The token variable the string form reads by default (sent as `Authorization: Bearer`).
const TOKEN_ENV: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";
/// Where the secret is in the response (base64, decoded first).
const PAYLOAD: &str = "/payload/data";

impl HttpSource {
    /// Google Cloud Secret Manager: access the latest version of a secret.
    ///
    /// Request: `GET https://secretmanager.googleapis.com/v1/projects/{project}/secrets/{secret}/versions/latest:access`
    /// with `Authorization: Bearer <OAuth access token>` (from the metadata server, workload
    /// identity, or `gcloud auth print-access-token`; write it to a file that a sidecar
    /// refreshes and pass [`HeaderValueFrom::file`]).
    /// Response (`AccessSecretVersionResponse`):
    ///
    /// ```json
    /// {
    ///   "name": "projects/123456789/secrets/exchange-key/versions/3",
    ///   "payload": { "data": "czNjcjN0LWtleQ==", "dataCrc32c": "2414155093" }
    /// }
    /// ```
    ///
    /// `payload.data` is base64 and decoded first; the key is the decoded text (trimmed), the
    /// version the last segment of `name`. For a JSON payload, add
    /// `.decode_json_at("/payload/data").key_pointer("/payload/data/api_key")`.
    pub fn gcp_secret_manager(project: &str, secret: &str, token: HeaderValueFrom) -> HttpSource {
        let url = format!(
            "https://secretmanager.googleapis.com/v1/projects/{project}/secrets/{secret}/versions/latest:access"
        );
        HttpSource::new(&url)
            .bearer(token)
            .decode_base64_at(PAYLOAD)
            .key_pointer(PAYLOAD)
            .version_pointer_last_segment("/name")
    }
}

/// A GCP project or secret id (letters, digits, `-`, `_`).
fn gcp_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) fn parse(rest: &str) -> Result<HttpSource> {
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
    let opts = Opts::parse_opt(cx, "option", query, &["token_env", "token_file"])?;
    let token = token(cx, "option", &opts, TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let src = HttpSource::gcp_secret_manager(project, secret, token);
    Ok(with_fields(src, PAYLOAD, &f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::presets::fields::{has_all, shown};

    #[test]
    fn the_string_decodes_json_when_a_field_is_named() {
        let d = shown(parse("//projects/p-1/secrets/s_1#api_key"));
        has_all(
            &d,
            &[
                "HeaderValueFrom::env(GOOGLE_OAUTH_ACCESS_TOKEN)",
                "[Base64(\"/payload/data\"), Json(\"/payload/data\")]",
                "key: \"/payload/data/api_key\"",
            ],
        );
    }
}
