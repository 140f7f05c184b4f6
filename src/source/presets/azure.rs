//! Azure Key Vault: the preset and its configuration string
//! `azure-kv://VAULT/SECRET[?OPTS][#FIELD[&FOPTS]]` (or `azure-kv://https://VAULT.vault.azure.net/secrets/SECRET`).

use super::fields::{fields, token, with_fields};
use crate::config::grammar::{Cx, Opts, after_slashes, endpoint_url, split_parts};
use crate::error::Result;
use crate::source::http::{HeaderValueFrom, HttpSource};

/// The token variable the string form reads by default (sent as `Authorization: Bearer`).
const TOKEN_ENV: &str = "AZURE_ACCESS_TOKEN";
/// Where the secret is in the response.
const VALUE: &str = "/value";

impl HttpSource {
    /// Azure Key Vault: get the current version of a secret.
    ///
    /// Request: `GET {vault_url}/secrets/{name}?api-version=7.4` with
    /// `Authorization: Bearer <Entra ID token for https://vault.azure.net>`. `vault_url` is
    /// like `https://my-vault.vault.azure.net`.
    /// Response (`SecretBundle`):
    ///
    /// ```json
    /// {
    ///   "value": "…",
    ///   "id": "https://my-vault.vault.azure.net/secrets/exchange-key/4387e9f3d6e14c459867679a90fd0f79",
    ///   "attributes": { "enabled": true, "created": 1493938410, "updated": 1493938410,
    ///                   "exp": 1893456000, "recoveryLevel": "Recoverable+Purgeable" }
    /// }
    /// ```
    ///
    /// The key is `value`, the version the last segment of `id`, the expiry `attributes.exp`
    /// when set (the client then refreshes ahead of it).
    pub fn azure_key_vault(vault_url: &str, name: &str, token: HeaderValueFrom) -> HttpSource {
        let url = format!(
            "{}/secrets/{}?api-version=7.4",
            vault_url.trim_end_matches('/'),
            name.trim_matches('/')
        );
        HttpSource::new(&url)
            .bearer(token)
            .key_pointer(VALUE)
            .version_pointer_last_segment("/id")
            .expiry_pointer("/attributes/exp")
    }
}

fn azure_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(super) fn parse(rest: &str) -> Result<HttpSource> {
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
    let opts = Opts::parse_opt(cx, "option", query, &["token_env", "token_file"])?;
    let token = token(cx, "option", &opts, TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let src = HttpSource::azure_key_vault(&vault_url, &name, token);
    Ok(with_fields(src, VALUE, &f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::presets::fields::{has_all, shown};

    #[test]
    fn the_string_builds_the_vault_url_and_decodes_json_when_a_field_is_named() {
        let d = shown(parse("//my-vault/exchange-key?token_env=AZ_TOK#k&secret=s"));
        has_all(
            &d,
            &[
                "HeaderValueFrom::env(AZ_TOK)",
                "https://my-vault.vault.azure.net/secrets/exchange-key",
                "key: \"/value/k\"",
            ],
        );
        let d = shown(parse("//my-vault/exchange-key"));
        has_all(
            &d,
            &[
                "HeaderValueFrom::env(AZURE_ACCESS_TOKEN)",
                "key: \"/value\"",
            ],
        );
    }
}
