//! Reads an API key from AWS Secrets Manager (`GetSecretValue`, SigV4) and keeps using it
//! while the secret is rotated.
//!
//! Needs the `aws` feature and AWS credentials in the environment:
//!
//! ```sh
//! export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_REGION=eu-west-1   # (+ AWS_SESSION_TOKEN)
//! cargo run --features aws --example aws_secrets_manager -- prod/exchange https://api.example.com/v1/me
//! ```
//!
//! Against a local moto server instead of AWS (nothing is sent to AWS):
//!
//! ```sh
//! moto_server -H 127.0.0.1 -p 5000 &
//! export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
//! export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:5000
//! aws --endpoint-url $AWS_ENDPOINT_URL_SECRETS_MANAGER secretsmanager create-secret \
//!     --name demo --secret-string k1          # or any SigV4 client
//! cargo run --features aws --example aws_secrets_manager -- demo
//! ```
//!
//! Arguments: the secret id, then optionally a URL to call every 2 s with the key as
//! `Authorization: Bearer …` (without it, the example only prints the version in use).

use std::time::Duration;

use keyswap::{Client, Source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let secret_id = args
        .next()
        .ok_or("usage: aws_secrets_manager <secret-id> [url]")?;
    let url = args.next();

    let source =
        Source::aws_secrets_manager(&secret_id).poll_interval(Some(Duration::from_secs(30)));
    let client = Client::builder()
        .source(source)
        .on_rotate(|r| println!("rotated: {} -> {}", r.old_version, r.new_version))
        .build()
        .await?;
    println!(
        "source {}, version {}",
        client.source_name(),
        client.credential_version()
    );

    for _ in 0..30 {
        match &url {
            Some(url) => {
                let resp = client.get(url).send().await?;
                println!(
                    "{} with version {}",
                    resp.status(),
                    client.credential_version()
                );
            }
            None => println!("version {}", client.credential_version()),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("{:?}", client.stats());
    Ok(())
}
