//! keyswap as a tower layer around a hyper-util client (feature `tower`), on a local API
//! that rotates its key with hard revocation: the service stack never sees the rotation.
//!
//! ```sh
//! cargo run --example tower_hyper --features tower
//! ```

use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use keyswap::{Auth, Client, Source};
use tower::ServiceExt;
use wiremock::matchers::header;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start().await;
    Mock::given(header("x-api-key", "k2"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello from the API"))
        .mount(&server)
        .await;
    Mock::given(header("x-api-key", "k1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;

    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    std::fs::write(&key_file, "k1")?; // already revoked by the API
    let keys = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("x-api-key"))
        .build()
        .await?;
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<keyswap::reqwest::Body>();
    let service = tower::ServiceBuilder::new()
        .layer(keyswap::tower::KeyswapLayer::new(keys.clone()))
        .service(hyper);

    // The new key reaches the file 200 ms after the API revoked the old one.
    let later = key_file.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let tmp = later.with_extension("tmp");
        std::fs::write(&tmp, "k2").unwrap();
        std::fs::rename(tmp, later).unwrap();
    });
    let request = http::Request::get(format!("{}/v1/hello", server.uri()))
        .body(keyswap::reqwest::Body::from(""))?;
    let resp = service.oneshot(request).await?;
    println!("status: {}", resp.status());
    let stats = keys.stats();
    println!(
        "rejections absorbed: {} · rotations: {} · rotation waits: {}",
        stats.auth_failures, stats.rotations, stats.rotation_waits
    );
    if !resp.status().is_success() {
        std::process::exit(1);
    }
    Ok(())
}
