//! A trading bot on a local mock exchange (Binance-shaped, verifying every HMAC signature) that
//! rotates the bot's key pairs with hard revocation and runs 3 s behind the host's clock.
//!
//! Least privilege: the bot holds a read-only pair for account data and a trading pair for
//! orders, each in its own key file and rotated independently; both clients share one
//! connection pool.
//!
//! ```sh
//! cargo run --example trading_bot                  # 8 s
//! cargo run --example trading_bot -- --seconds 20
//! ```
//!
//! Expect `failures seen by the bot: 0`; the exit status is 1 otherwise.

#[path = "../tests/common/exchange.rs"]
mod exchange;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use exchange::{Exchange, Flavour};
use keyswap::sign::HmacSigner;
use keyswap::{Auth, Client, Source};

fn write_pair(path: &Path, key: &str, secret: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::json!({ "key": key, "secret": secret, "version": key });
    std::fs::write(&tmp, json.to_string())?;
    std::fs::rename(tmp, path)
}

fn seconds() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--seconds") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--seconds N"),
        None => 8,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = Duration::from_secs(seconds());
    let exchange = Exchange::default();
    exchange.set_skew_ms(-3_000); // the exchange's clock is 3 s behind the host's
    let mut read_pair = ("read-0".to_string(), "read-secret-0".to_string());
    let mut trade_pair = ("trade-0".to_string(), "trade-secret-0".to_string());
    exchange.honour_only(&[(&read_pair.0, &read_pair.1), (&trade_pair.0, &trade_pair.1)]);
    let server = exchange.clone().start(Flavour::Binance).await;

    let dir = tempfile::tempdir()?;
    let (read_file, trade_file) = (dir.path().join("read.json"), dir.path().join("trade.json"));
    write_pair(&read_file, &read_pair.0, &read_pair.1)?;
    write_pair(&trade_file, &trade_pair.0, &trade_pair.1)?;

    // One connection pool for both keys; redirects off (keyswap follows them itself).
    let pool = keyswap::reqwest::Client::builder()
        .redirect(keyswap::reqwest::redirect::Policy::none())
        .build()?;
    let client = |file: &Path| {
        Client::builder()
            .source(Source::file(file))
            .auth(Auth::signer(HmacSigner::binance())) // recvWindow 5000, clock learned at start
            .base_url(server.uri())
            .http_client(pool.clone())
            .build()
    };
    let (reader, trader) = (client(&read_file).await?, client(&trade_file).await?);
    println!(
        "exchange at {} (3 s behind the host, hard revocation); read and trade keys rotate independently for {} s",
        server.uri(),
        run_for.as_secs()
    );

    let started = Instant::now();
    let deadline = started + run_for;
    let rotator = {
        let exchange = exchange.clone();
        tokio::spawn(async move {
            let mut rotations = 0u64;
            let mut n = 0;
            while Instant::now() + Duration::from_millis(800) < deadline {
                tokio::time::sleep(Duration::from_millis(350 + fastrand::u64(..300))).await;
                n += 1;
                // Alternate the pairs; the exchange revokes at once, the file follows 100 ms later.
                let (pair, file) = if n % 2 == 0 {
                    (&mut read_pair, &read_file)
                } else {
                    (&mut trade_pair, &trade_file)
                };
                let kind = if n % 2 == 0 { "read" } else { "trade" };
                *pair = (format!("{kind}-{n}"), format!("{kind}-secret-{n}"));
                exchange
                    .honour_only(&[(&read_pair.0, &read_pair.1), (&trade_pair.0, &trade_pair.1)]);
                rotations += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                let pair = if n % 2 == 0 { &read_pair } else { &trade_pair };
                write_pair(file, &pair.0, &pair.1).expect("write key file");
            }
            rotations
        })
    };

    let (orders, reads, failures) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let bots: Vec<_> = (0..4)
        .map(|bot| {
            let (reader, trader) = (reader.clone(), trader.clone());
            let (orders, reads, failures) = (orders.clone(), reads.clone(), failures.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let account = reader.get("/api/v3/account").send().await;
                    match account {
                        Ok(r) if r.status().is_success() => reads.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("bot {bot}: account read failed: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    // A client order id makes a re-sent order idempotent at the exchange;
                    // keyswap only re-sends orders the exchange rejected (never placed).
                    let id = format!("bot{bot}-{}", fastrand::u64(..));
                    let order = [
                        ("symbol", "BTCUSDT"),
                        ("side", "BUY"),
                        ("type", "LIMIT"),
                        ("quantity", "0.001"),
                        ("price", "50000"),
                        ("newClientOrderId", id.as_str()),
                    ];
                    match trader.post("/api/v3/order").form(&order).send().await {
                        Ok(r) if r.status().is_success() => orders.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("bot {bot}: order failed: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for bot in bots {
        bot.await?;
    }
    let rotations = rotator.await?;
    let (r, t) = (reader.stats(), trader.stats());
    let failures = failures.load(Ordering::Relaxed);
    println!();
    println!(
        "orders placed:                {}",
        orders.load(Ordering::Relaxed)
    );
    println!(
        "account reads:                {}",
        reads.load(Ordering::Relaxed)
    );
    println!("failures seen by the bot:     {failures}");
    println!(
        "key-pair rotations:           {rotations} (read {} · trade {})",
        r.rotations, t.rotations
    );
    println!(
        "rejections absorbed:          {} credential · {} timestamp/nonce re-signed",
        r.auth_failures + t.auth_failures,
        r.resigns + t.resigns
    );
    let ledger = exchange.ledger();
    println!(
        "exchange saw:                 {} accepted · {} bad key · {} bad timestamp · {} bad signature",
        ledger.accepted, ledger.bad_key, ledger.bad_timestamp, ledger.bad_signature
    );
    if failures > 0 || ledger.bad_signature > 0 {
        std::process::exit(1);
    }
    Ok(())
}
