//! HashiCorp Vault, KV version 2: the preset and its configuration string
//! `vault+https://HOST[:PORT]/v1/MOUNT/data/PATH[?OPTS]#FIELD[&FOPTS]`.

use super::fields::{fields, member, members, token};
use crate::config::grammar::{Cx, Opts, endpoint_url, split_parts};
use crate::error::Result;
use crate::source::http::{HeaderValueFrom, HttpSource};

/// The token variable the string form reads by default (sent as `X-Vault-Token`).
const TOKEN_ENV: &str = "VAULT_TOKEN";
/// Where KV v2 puts the secret's members in the response.
const DATA: &str = "/data/data";

impl HttpSource {
    /// HashiCorp Vault, KV secrets engine version 2: read the latest version of a secret.
    ///
    /// Request: `GET {addr}/v1/{mount}/data/{path}` with `X-Vault-Token: <token>`.
    /// Response (abridged from Vault's API docs, "Read secret version"):
    ///
    /// ```json
    /// {
    ///   "request_id": "…", "lease_id": "", "renewable": false, "lease_duration": 0,
    ///   "data": {
    ///     "data": { "api_key": "…", "api_secret": "…" },
    ///     "metadata": { "created_time": "2018-03-22T02:24:06.945319214Z",
    ///                   "custom_metadata": null, "deletion_time": "",
    ///                   "destroyed": false, "version": 2 }
    ///   },
    ///   "wrap_info": null, "warnings": null, "auth": null
    /// }
    /// ```
    ///
    /// The key is `/data/data/{field}`, the version `/data/metadata/version`. Add
    /// `.secret_pointer("/data/data/api_secret")` for a signing secret, and
    /// `.header("X-Vault-Namespace", ..)` for Vault Enterprise namespaces. The token is read
    /// again on every fetch: point it at a Vault Agent sink file to follow token renewal.
    ///
    /// ```
    /// use keyswap::{HeaderValueFrom, Source};
    /// let source = Source::vault_kv2(
    ///     "https://vault.internal:8200", "secret", "payments/exchange", "api_key",
    ///     HeaderValueFrom::file("/vault/agent/token"),
    /// );
    /// assert_eq!(source.url().unwrap(), "https://vault.internal:8200/v1/secret/data/payments/exchange");
    /// ```
    pub fn vault_kv2(
        addr: &str,
        mount: &str,
        path: &str,
        field: &str,
        token: HeaderValueFrom,
    ) -> HttpSource {
        let url = format!(
            "{}/v1/{}/data/{}",
            addr.trim_end_matches('/'),
            mount.trim_matches('/'),
            path.trim_matches('/')
        );
        HttpSource::new(&url)
            .header("X-Vault-Token", token)
            .key_pointer(member(DATA, field))
            .version_pointer("/data/metadata/version")
    }
}

/// `url` is the part after `vault+`: `https://host:port/v1/mount/data/path?opts#field`.
pub(super) fn parse(url: &str) -> Result<HttpSource> {
    let cx = Cx::source_by_tls(url, "vault+https", "vault+http");
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
    let opts = Opts::parse_opt(
        cx,
        "option",
        query,
        &["token_env", "token_file", "namespace"],
    )?;
    let token = token(cx, "option", &opts, TOKEN_ENV)?;
    let f = fields(cx, fragment, true)?;
    let Some(key) = f.key else {
        return Err(cx.err(
            "fragment",
            "missing: name the field that holds the key (…/data/PATH#api_key)",
        ));
    };
    let addr = base.origin().ascii_serialization();
    // The key pointer is the preset's; secret and passphrase are members of the same data.
    let mut src = members(
        HttpSource::vault_kv2(&addr, mount, secret_path, key, token),
        DATA,
        &f,
    );
    if let Some(ns) = opts.get("namespace") {
        src = src.header("X-Vault-Namespace", HeaderValueFrom::literal(ns));
    }
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::presets::fields::{has_all, shown};

    #[test]
    fn vault_token_fields_and_namespace() {
        let d = shown(parse("https://v:8200/v1/secret/data/app#api_key"));
        has_all(
            &d,
            &[
                "HeaderValueFrom::env(VAULT_TOKEN)",
                "key: \"/data/data/api_key\"",
                "version: Some(\"/data/metadata/version\")",
            ],
        );

        let d = shown(parse(
            "https://v/v1/kv/team/data/a/b?token_file=/vault/token&namespace=ns1#k&secret=s/x&passphrase=p",
        ));
        has_all(
            &d,
            &[
                "HeaderValueFrom::file(/vault/token)",
                "X-Vault-Namespace",
                "https://v/v1/kv/team/data/a/b",
                "secret: Some(\"/data/data/s~1x\")",
                "passphrase: Some(\"/data/data/p\")",
            ],
        );

        let d = shown(parse(
            "http://127.0.0.1:8200/v1/secret/data/app?token_env=MY_TOKEN#k",
        ));
        has_all(&d, &["HeaderValueFrom::env(MY_TOKEN)"]);
    }
}
