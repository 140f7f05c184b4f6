//! What an operator sees in `Client::health()` and `Client::stats()` through the procedures of
//! `docs/runbook.md`: a planned rotation, a forced refresh, an emergency revocation, a bad
//! write, a source outage, and a revocation during that outage.
//!
//! Self-contained: a local API on 127.0.0.1 that accepts the keys the example chooses, and a
//! key file in a temporary directory.
//!
//! ```sh
//! cargo run --example runbook
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use keyswap::{Auth, Client, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn write_key(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    std::fs::rename(tmp, path)
}

fn ago(t: Option<SystemTime>) -> String {
    match t.and_then(|t| t.elapsed().ok()) {
        Some(d) => format!("{} ms ago", d.as_millis()),
        None => "-".into(),
    }
}

fn report(client: &Client) {
    let h = client.health();
    println!(
        "  health: {:?}, version {}, last_success {}, failing_since {}",
        h.state,
        h.credential_version.as_deref().unwrap_or("-"),
        ago(h.last_success),
        ago(h.failing_since),
    );
    if h.failing_since.is_some() {
        println!(
            "          last_error: {}",
            h.last_error.as_deref().unwrap_or("-")
        );
    }
    let s = client.stats();
    println!(
        "  stats:  requests {} · auth_failures {} · fallbacks {} · rotations {} · refreshes {} · rotation_waits {} · source_errors {} · background_failures {}",
        s.requests,
        s.auth_failures,
        s.fallbacks,
        s.rotations,
        s.refreshes,
        s.rotation_waits,
        s.source_errors,
        s.background_failures
    );
}

/// One call, with what the caller saw and how long it took.
async fn call(client: &Client) {
    let started = Instant::now();
    let outcome = match client.get("/v1/balance").send().await {
        Ok(resp) => resp.status().to_string(),
        Err(err) => format!("error: {err}"),
    };
    println!(
        "  GET /v1/balance -> {outcome} in {} ms",
        started.elapsed().as_millis()
    );
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let accepted = Arc::new(Mutex::new(vec!["key-1".to_owned()]));
    let accept = |keys: &[&str]| {
        *accepted.lock().unwrap() = keys.iter().map(|k| k.to_string()).collect();
    };
    let server = MockServer::start().await;
    let keys = accepted.clone();
    Mock::given(any())
        .respond_with(move |req: &Request| {
            let sent = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if sent.is_some_and(|k| keys.lock().unwrap().iter().any(|a| a == k)) {
                ResponseTemplate::new(200)
            } else {
                ResponseTemplate::new(401)
            }
        })
        .mount(&server)
        .await;

    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    // JSON with a version label, so health() and on_rotate show readable versions.
    let pair = |n: u32| format!("{{\"key\": \"key-{n}\", \"version\": \"v{n}\"}}");
    write_key(&key_file, &pair(1))?;

    let client = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header("X-API-Key"))
        .base_url(server.uri())
        .on_rotate(|r| println!("  on_rotate: {} -> {}", r.old_version, r.new_version))
        .build()
        .await?;

    println!("1. started");
    call(&client).await;
    report(&client);

    println!("\n2. planned rotation: the API accepts key-1 and key-2, key-2 is written");
    accept(&["key-1", "key-2"]);
    write_key(&key_file, &pair(2))?;
    settle().await;
    call(&client).await;
    report(&client);
    accept(&["key-2"]);
    println!("   key-1 revoked after traffic moved to v2");

    println!("\n3. forced refresh: client.refresh()");
    println!("  refresh() -> {:?}", client.refresh().await?);
    report(&client);

    println!(
        "\n4. emergency revocation: the API accepts only key-3 now, the file follows in 300 ms"
    );
    accept(&["key-3"]);
    let file = key_file.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        write_key(&file, &pair(3)).expect("write key file");
    });
    call(&client).await;
    writer.await?;
    report(&client);

    println!("\n5. bad write: an empty file");
    write_key(&key_file, "")?;
    // After a change event a failing load is retried 3 times within about 0.6 s (a writer may
    // still be busy) before it counts: give it a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    call(&client).await;
    report(&client);
    println!("   the correct content is written back");
    write_key(&key_file, &pair(3))?;
    settle().await;
    report(&client);

    println!("\n6. source outage: the key file disappears");
    std::fs::remove_file(&key_file)?;
    settle().await;
    call(&client).await;
    match client.refresh().await {
        Ok(v) => println!("  refresh() -> Ok({v:?})"),
        Err(err) => println!("  refresh() -> Err({err})"),
    }
    report(&client);

    println!("\n7. the API revokes key-3 during the outage");
    accept(&["key-4"]);
    call(&client).await;
    report(&client);

    println!("\n8. the source is back with key-4");
    write_key(&key_file, &pair(4))?;
    settle().await;
    call(&client).await;
    report(&client);
    Ok(())
}
