//! keyswap inside a reqwest-middleware stack, with reqwest-tracing and reqwest-retry outside it,
//! while the API rotates its key under load and answers some requests with a transient 503.
//!
//! Self-contained: a local API on 127.0.0.1 that accepts only the current key in the `api_key`
//! query parameter (`Auth::query`: the placement where a leak through a URL is possible) and
//! answers every 20th request with 503; a key file in a temporary directory. Four workers call
//! the API through
//!
//! ```text
//! TracingMiddleware  →  RetryTransientMiddleware  →  keyswap::Middleware  →  reqwest
//! ```
//!
//! for about two seconds, while the key is rotated four times with hard revocation (the old key
//! stops working at once, the file gets the new key 100 ms later). keyswap absorbs the 401s,
//! reqwest-retry the 503s, and reqwest-tracing records a span per call with its full URL (written
//! to a buffer that is then searched for the keys: none may appear, since tracing sits outside
//! keyswap and sees the URL without the credential). Why this order: see the
//! `keyswap::Middleware` docs.
//!
//! ```sh
//! cargo run --example middleware_stack --features middleware
//! ```
//!
//! Exit status 1 if any call failed or a key reached the trace output.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyswap::{Auth, Client, Middleware, Source};
use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
use reqwest_tracing::{SpanBackendWithUrl, TracingMiddleware};
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn write_key(path: &Path, key: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, key)?;
    std::fs::rename(tmp, path)
}

/// Trace output, kept to be searched for keys afterwards.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trace = Captured::default();
    let writer = trace.clone();
    tracing_subscriber::fmt()
        .with_env_filter("reqwest_tracing=trace,keyswap=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .init();

    // --- the API ---------------------------------------------------------------------------
    let current = Arc::new(Mutex::new("key-0".to_owned()));
    let (seen, unavailable, rejected) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let server = MockServer::start().await;
    {
        let (current, seen, unavailable, rejected) = (
            current.clone(),
            seen.clone(),
            unavailable.clone(),
            rejected.clone(),
        );
        Mock::given(any())
            .respond_with(move |req: &Request| {
                if seen.fetch_add(1, Ordering::SeqCst) % 20 == 19 {
                    unavailable.fetch_add(1, Ordering::SeqCst);
                    return ResponseTemplate::new(503);
                }
                let sent = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "api_key")
                    .map(|(_, v)| v.into_owned());
                if sent.as_deref() == Some(current.lock().unwrap().as_str()) {
                    ResponseTemplate::new(200).set_body_string("{\"balance\": 42}")
                } else {
                    rejected.fetch_add(1, Ordering::SeqCst);
                    ResponseTemplate::new(401).set_body_string("{\"error\": \"invalid API key\"}")
                }
            })
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("api_key");
    write_key(&key_file, "key-0")?;

    // --- the stack -------------------------------------------------------------------------
    let keys = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::query("api_key"))
        .base_url(server.uri())
        .build()
        .await?;
    let http = keyswap::reqwest::Client::builder()
        .redirect(keyswap::reqwest::redirect::Policy::none()) // keyswap follows redirects
        .build()?;
    let stack = reqwest_middleware::ClientBuilder::new(http)
        .with(TracingMiddleware::<SpanBackendWithUrl>::new())
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder()
                .retry_bounds(Duration::from_millis(1), Duration::from_millis(20))
                .build_with_max_retries(5),
        ))
        .with(Middleware::new(keys.clone()))
        .build();

    // --- workers, and the rotations --------------------------------------------------------
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = format!("{}/v1/balance?currency=EUR", server.uri());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stack, url, stop, calls, failed) = (
                stack.clone(),
                url.clone(),
                stop.clone(),
                calls.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    calls.fetch_add(1, Ordering::Relaxed);
                    match stack.get(&url).send().await {
                        Ok(resp) if resp.status().is_success() => {}
                        Ok(resp) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("call failed: {}", resp.status());
                        }
                        Err(err) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("call failed: {err}");
                        }
                    }
                }
            })
        })
        .collect();
    let mut keys_used = vec!["key-0".to_owned()];
    for n in 1..=4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let key = format!("key-{n}");
        *current.lock().unwrap() = key.clone(); // hard revocation of the old key
        tokio::time::sleep(Duration::from_millis(100)).await;
        write_key(&key_file, &key)?; // the file follows
        keys_used.push(key);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }

    // --- report ----------------------------------------------------------------------------
    let trace = String::from_utf8_lossy(&trace.0.lock().unwrap()).into_owned();
    let lines = trace.lines().count();
    let with_url = trace.lines().filter(|l| l.contains("url.full=")).count();
    let leaked = keys_used.iter().any(|k| trace.contains(k.as_str()));
    let (calls, failed) = (
        calls.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let stats = keys.stats();
    println!(
        "calls: {calls} · failed: {failed} · rotations: {} · 401s absorbed by keyswap: {} · \
         503s absorbed by reqwest-retry: {} · trace lines: {lines} ({with_url} with a \
         full URL) · key in trace output: {}",
        stats.rotations,
        rejected.load(Ordering::SeqCst),
        unavailable.load(Ordering::SeqCst),
        if leaked { "YES" } else { "no" },
    );
    if failed > 0 || leaked || calls == 0 {
        std::process::exit(1);
    }
    Ok(())
}
