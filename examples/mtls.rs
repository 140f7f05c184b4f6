//! A client certificate that cert-manager re-issues every second, under hard revocation, with
//! consumers that never notice.
//!
//! Self-contained: a CA made with rcgen; an HTTPS API on 127.0.0.1 (rustls) that requires a
//! client certificate and trusts only the newest one (older ones are refused at the handshake
//! with `certificate_revoked`, and with 403 on connections they opened); a temporary directory
//! standing in for the Kubernetes TLS secret (`tls.crt`, `tls.key`, `ca.crt`) that cert-manager
//! updates through the kubelet (`..data` swaps). The API revokes first; the new certificate
//! reaches the volume 100 ms later. Four consumers share one `keyswap::Client`.
//!
//! ```sh
//! cargo run --example mtls                  # 6 rotations
//! cargo run --example mtls -- --rotations 20
//! ```
//!
//! Expect `failures seen by consumers: 0`; the exit status is 1 otherwise.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/mtls.rs"]
mod mtls_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keyswap::Client;
use keyswap::tls::{IdentitySource, TrustSource};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), keyswap::Error> {
    let rotations: usize = std::env::args()
        .skip_while(|a| a != "--rotations")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let hour = Duration::from_secs(3600);
    let (client_ca, server_ca) = (
        mtls_server::Ca::new("clients"),
        mtls_server::Ca::new("servers"),
    );
    let api = mtls_server::MtlsServer::start(
        &client_ca,
        &server_ca.issue(&["localhost", "127.0.0.1"], hour),
    )
    .await;
    let first = client_ca.client(hour);
    api.trust_only(&first);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = |leaf: &mtls_server::Leaf| {
        [
            ("tls.crt", leaf.cert_pem.clone().into_bytes()),
            ("tls.key", leaf.key_pem.clone().into_bytes()),
            ("ca.crt", server_ca.pem.clone().into_bytes()),
        ]
    };
    let initial = files(&first);
    let mut volume = common::K8sVolume::create(
        dir.path(),
        &initial
            .iter()
            .map(|(n, c)| (*n, c.as_slice()))
            .collect::<Vec<_>>(),
    );

    // The client: the TLS secret's certificate and key, and its CA for the server.
    let client = Client::builder()
        .identity(IdentitySource::kubernetes(dir.path()))
        .trust(TrustSource::kubernetes(dir.path()))
        .base_url(api.url.replace("localhost", "127.0.0.1"))
        .build()
        .await?;
    println!(
        "client certificate {}",
        client.identity_version().unwrap_or_default()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop, ok, failed) =
                (client.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.get("/v1/balance").send().await {
                        Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(r) => {
                            eprintln!("consumer saw {}", r.status());
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            eprintln!("consumer saw {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();

    for n in 1..=rotations {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let next = client_ca.client(hour);
        api.trust_only(&next); // hard revocation of every older certificate
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = files(&next);
        volume.update(
            &f.iter()
                .map(|(n, c)| (*n, c.as_slice()))
                .collect::<Vec<_>>(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tls = client.tls_stats().unwrap_or_default();
        println!(
            "rotation {n}: certificate {}, {} requests ok, refusals absorbed {}, handshakes {}",
            client.identity_version().unwrap_or_default(),
            ok.load(Ordering::Relaxed),
            tls.identity_rejections,
            tls.handshakes,
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = c.await;
    }
    let failures = failed.load(Ordering::Relaxed);
    println!(
        "requests: {}, failures seen by consumers: {failures}, {:?}",
        ok.load(Ordering::Relaxed),
        client.tls_stats().unwrap_or_default()
    );
    if failures != 0 {
        std::process::exit(1);
    }
    Ok(())
}
