//! Moving from a plain `reqwest::Client` with a hand-set key header to `keyswap::Client`,
//! and what each does when the key is rotated. See `docs/migrating.md`.
//!
//! Self-contained: a local API on 127.0.0.1 that accepts only the current key in `X-API-Key`,
//! and a key file in a temporary directory. The example calls the API three ways:
//!
//! - **before**: `reqwest::Client` with the key read once into a default header;
//! - **after, builder style**: `keyswap::Client::get(..).send()`, as reqwest's builder;
//! - **after, `execute` style**: a `reqwest::Request` built elsewhere (here by the same
//!   `reqwest::Client`, as generated SDK code would) and sent with `keyswap::Client::execute`.
//!
//! Then the API rotates its key with hard revocation (the old key stops working at once; the
//! key file gets the new key 100 ms later) and all three call again.
//!
//! ```sh
//! cargo run --example migrate_from_reqwest
//! ```
//!
//! Expect both keyswap styles to succeed before and after the rotation, and the plain client
//! to get 401 after it. The exit status is 1 if a keyswap call fails.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyswap::reqwest::header::{HeaderMap, HeaderValue};
use keyswap::reqwest::{self, StatusCode};
use keyswap::{Auth, Client, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn write_key(path: &Path, key: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, key)?;
    std::fs::rename(tmp, path)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- the API: accepts the current key only -------------------------------------------
    let current = Arc::new(Mutex::new("key-1".to_owned()));
    let server = MockServer::start().await;
    let accepted = current.clone();
    Mock::given(any())
        .respond_with(move |req: &Request| {
            let sent = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if sent == Some(accepted.lock().unwrap().as_str()) {
                ResponseTemplate::new(200).set_body_string("{\"balance\": 42}")
            } else {
                ResponseTemplate::new(401).set_body_string("{\"error\": \"invalid API key\"}")
            }
        })
        .mount(&server)
        .await;
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    write_key(&key_file, "key-1")?;
    let base = server.uri();

    // --- before: plain reqwest, the key read once into a default header --------------------
    let key = std::fs::read_to_string(&key_file)?.trim().to_owned();
    let mut headers = HeaderMap::new();
    let mut value = HeaderValue::from_str(&key)?;
    value.set_sensitive(true);
    headers.insert("x-api-key", value);
    let plain = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .build()?;

    // --- after: the same reqwest settings, the key from a source ---------------------------
    // Redirects off: keyswap follows redirects itself and decides per hop who gets the key.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let client = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("X-API-Key"))
        .base_url(&base)
        .http_client(http.clone())
        .on_rotate(|r| println!("  keyswap rotated {} -> {}", r.old_version, r.new_version))
        .build()
        .await?;

    let mut keyswap_failures = 0;
    for round in ["before the rotation", "after the rotation"] {
        println!("{round}:");

        let status = plain
            .get(format!("{base}/v1/balance"))
            .send()
            .await?
            .status();
        println!("  plain reqwest, hand-set header:      {status}");

        // Builder style: relative URL against base_url; a plain reqwest::Response comes back.
        let resp = client
            .get("/v1/balance")
            .query(&[("currency", "EUR")])
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        println!("  keyswap, client.get(..).send():      {status} {body}");
        keyswap_failures += u32::from(status != StatusCode::OK);

        // execute style: a reqwest::Request built elsewhere (no key in it), sent by keyswap.
        let request = http.get(format!("{base}/v1/balance")).build()?;
        let status = client.execute(request).await?.status();
        println!("  keyswap, client.execute(request):    {status}");
        keyswap_failures += u32::from(status != StatusCode::OK);

        if round == "before the rotation" {
            // Hard revocation: the API accepts only key-2 from now on; the file follows later.
            *current.lock().unwrap() = "key-2".to_owned();
            let key_file = key_file.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                write_key(&key_file, "key-2").expect("write key file");
            });
            println!(
                "API rotated to a new key and revoked the old one; the key file follows in 100 ms"
            );
        }
    }

    let stats = client.stats();
    println!(
        "keyswap: requests {}, failed {}, rejected attempts absorbed {}, rotations {}",
        stats.requests, keyswap_failures, stats.auth_failures, stats.rotations
    );
    if keyswap_failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
