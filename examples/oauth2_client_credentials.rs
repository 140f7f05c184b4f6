//! A client calling an API with OAuth2 client-credentials tokens that live 2 s, while the
//! client secret is rotated underneath it (at the server first, in its file 150 ms later).
//!
//! Self-contained: it starts a local stand-in authorization server (`POST /token`, HTTP Basic
//! client authentication, `{"access_token", "token_type", "expires_in"}`) and a stand-in API
//! that accepts tokens younger than 2 s, both on 127.0.0.1, so
//! `cargo run --example oauth2_client_credentials` needs no external service. The tests run the
//! same scenarios against a real authorization server (oidc-provider, `tests/oauth2.rs`). With
//! a real one, point `token_url` at it and the secret source at your secret's file or Vault.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use keyswap::{Client, Source};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const LIFETIME: Duration = Duration::from_secs(2);

#[derive(Default)]
struct AuthState {
    secret: String,
    issued: HashMap<String, Instant>,
    token_requests: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- the stand-in authorization server and API ----------------------------------------
    let state = Arc::new(Mutex::new(AuthState {
        secret: "secret-v1".into(),
        ..Default::default()
    }));
    let server = MockServer::start().await;
    let tokens = state.clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let mut s = tokens.lock().unwrap();
            s.token_requests += 1;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("billing:{}", s.secret))
            );
            if req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                != Some(&expected)
            {
                return ResponseTemplate::new(401)
                    .set_body_json(json!({ "error": "invalid_client" }));
            }
            let token = format!("tok-{}", s.token_requests);
            s.issued.insert(token.clone(), Instant::now());
            ResponseTemplate::new(200).set_body_json(json!({
                "access_token": token, "token_type": "Bearer", "expires_in": LIFETIME.as_secs(),
            }))
        })
        .mount(&server)
        .await;
    let api = state.clone();
    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .respond_with(move |req: &Request| {
            let token = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_owned();
            let valid = api
                .lock()
                .unwrap()
                .issued
                .get(&token)
                .is_some_and(|at| at.elapsed() < LIFETIME);
            ResponseTemplate::new(if valid { 200 } else { 401 })
        })
        .mount(&server)
        .await;

    // --- the client: the secret lives in a file, the token comes from the grant -----------
    let dir = tempfile::tempdir()?;
    let secret_file = dir.path().join("oauth_client_secret");
    std::fs::write(&secret_file, "secret-v1")?;
    let client = Client::builder()
        .source(Source::oauth2_client_credentials(
            &format!("{}/token", server.uri()),
            "billing",
            Source::file(&secret_file),
        ))
        .base_url(server.uri())
        .build()
        .await?;

    let started = Instant::now();
    let (mut ok, mut failed, mut rotated) = (0, 0, false);
    while started.elapsed() < Duration::from_secs(5) {
        if !rotated && started.elapsed() > Duration::from_millis(2500) {
            // An operator rotates the secret: the server refuses the old one at once, the
            // file follows 150 ms later. The token in use keeps serving meanwhile.
            state.lock().unwrap().secret = "secret-v2".into();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let tmp = secret_file.with_extension("tmp");
            std::fs::write(&tmp, "secret-v2")?;
            std::fs::rename(&tmp, &secret_file)?;
            rotated = true;
        }
        match client.get("/v1/invoices").send().await {
            Ok(resp) if resp.status().is_success() => ok += 1,
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let token_requests = state.lock().unwrap().token_requests;
    println!("5 s of requests on 2 s tokens, client secret rotated at 2.5 s:");
    println!(
        "  {ok} succeeded, {failed} failed, {token_requests} token requests (one refused: the old secret)"
    );
    assert_eq!(failed, 0);
    Ok(())
}
