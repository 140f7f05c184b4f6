//! A client reading its API key from HashiCorp Vault (KV v2) and following a rotation.
//!
//! Self-contained: it starts a local stand-in for Vault (answering `GET /v1/secret/data/…`
//! with Vault's response shape, checking `X-Vault-Token`) and a stand-in for the API, both on
//! 127.0.0.1, so `cargo run --example vault` needs no external service. With a real Vault,
//! replace the stand-in's address by yours (`VAULT_ADDR`) and the token by
//! `HeaderValueFrom::file("/vault/agent/token")` or `HeaderValueFrom::env("VAULT_TOKEN")`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyswap::{Auth, Client, HeaderValueFrom, Source};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- the stand-in Vault: one secret, whose version the example bumps -----------------
    let secret = Arc::new(Mutex::new(("key-v1".to_owned(), 1u64)));
    let vault = MockServer::start().await;
    let current = secret.clone();
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/payments/exchange"))
        .and(header("x-vault-token", "hvs.example-token"))
        .respond_with(move |_: &Request| {
            let (key, version) = current.lock().unwrap().clone();
            ResponseTemplate::new(200).set_body_json(json!({
                "request_id": "8a2b6a2e-0000-0000-0000-000000000000",
                "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {
                    "data": { "api_key": key },
                    "metadata": { "created_time": "2026-11-22T12:00:00Z", "custom_metadata": null,
                                  "deletion_time": "", "destroyed": false, "version": version }
                },
                "wrap_info": null, "warnings": null, "auth": null
            }))
        })
        .mount(&vault)
        .await;

    // --- the stand-in API: accepts the key Vault holds now --------------------------------
    let api = MockServer::start().await;
    let accepted = secret.clone();
    Mock::given(path("/v1/balance"))
        .respond_with(move |req: &Request| {
            let sent = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if sent == Some(accepted.lock().unwrap().0.as_str()) {
                ResponseTemplate::new(200).set_body_string("{\"balance\": 42}")
            } else {
                ResponseTemplate::new(401).set_body_string("invalid api key")
            }
        })
        .mount(&api)
        .await;

    // --- the client -----------------------------------------------------------------------
    let source = Source::vault_kv2(
        &vault.uri(),
        "secret",
        "payments/exchange",
        "api_key",
        HeaderValueFrom::literal("hvs.example-token"),
    )
    .poll_interval(Some(Duration::from_secs(60)));
    let client = Client::builder()
        .source(source)
        .auth(Auth::header("x-api-key"))
        .base_url(api.uri())
        .on_rotate(|r| println!("  rotated: version {} -> {}", r.old_version, r.new_version))
        .build()
        .await?;
    println!("source: {}", client.source_name());
    println!("using Vault version {}", client.credential_version());

    let resp = client.get("/v1/balance").send().await?;
    println!("GET /v1/balance -> {}", resp.status());

    // Rotate in Vault (`vault kv put secret/payments/exchange api_key=key-v2`); the API
    // revokes the old key at once. The next call meets a 401, keyswap re-reads Vault
    // (one request, however many calls failed together) and retries with the new key.
    *secret.lock().unwrap() = ("key-v2".to_owned(), 2);
    println!("rotated the secret in Vault to version 2");
    let resp = client.get("/v1/balance").send().await?;
    println!(
        "GET /v1/balance -> {} (now using Vault version {})",
        resp.status(),
        client.credential_version()
    );
    println!("{:?}", client.stats());
    Ok(())
}
