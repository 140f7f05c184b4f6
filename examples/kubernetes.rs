//! A client reading its API key from a Kubernetes secret volume while the kubelet updates it.
//!
//! Self-contained: a temporary directory stands in for the volume and is updated exactly the
//! way the kubelet's AtomicWriter does it (new `..<timestamp>` directory, `..data_tmp` symlink
//! renamed over `..data`, old directory removed; the key file itself is a symlink
//! `api_key -> ..data/api_key` that never changes). A local API on 127.0.0.1 rotates its key
//! and four consumers keep calling it through one `keyswap::Client`.
//!
//! Rotations alternate between the two orders an operator meets:
//!
//! - **planned**: the API accepts old and new key, the volume is updated, 300 ms later the
//!   old key is revoked (no request should be rejected);
//! - **hard revocation**: the API accepts only the new key at once, the volume follows
//!   150 ms later (the rejected requests are absorbed by keyswap's recover path).
//!
//! ```sh
//! cargo run --example kubernetes                 # 6 rotations
//! cargo run --example kubernetes -- --rotations 20
//! ```
//!
//! Expect `failures seen by consumers: 0`; the exit status is 1 otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyswap::{Auth, Client, Source};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A Kubernetes secret volume, updated the way the kubelet's AtomicWriter does it
/// (the same layout as `tests/common/mod.rs`): files go into a new `..<timestamp>` directory,
/// a `..data_tmp` symlink to it is renamed over `..data`, user-visible names are symlinks
/// `<name> -> ..data/<name>`, and the old timestamped directory is removed.
struct K8sVolume {
    dir: PathBuf,
    generation: usize,
}

impl K8sVolume {
    fn create(dir: &Path, files: &[(&str, &[u8])]) -> std::io::Result<Self> {
        let mut volume = K8sVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        volume.update(files)?;
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name))?;
        }
        Ok(volume)
    }

    fn update(&mut self, files: &[(&str, &[u8])]) -> std::io::Result<()> {
        self.generation += 1;
        let ts = format!(
            "..2026_11_22_12_00_{:02}.{:09}",
            self.generation,
            self.generation * 7919
        );
        let ts_dir = self.dir.join(&ts);
        std::fs::create_dir(&ts_dir)?;
        for (name, content) in files {
            std::fs::write(ts_dir.join(name), content)?;
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp_link = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&ts, &tmp_link)?;
        std::fs::rename(&tmp_link, self.dir.join("..data"))?;
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old))?;
        }
        Ok(())
    }

    /// `ls -la`, the way it looks inside the pod.
    fn listing(&self) -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(entry.path())?;
            lines.push(if meta.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                format!("{name} -> {}", target.display())
            } else if meta.is_dir() {
                format!("{name}/")
            } else {
                name
            });
        }
        lines.sort();
        Ok(lines)
    }
}

/// The API: answers 200 to a request carrying an accepted key in `X-API-Key`, 401 otherwise.
#[derive(Clone, Default)]
struct Api {
    accepted: Arc<Mutex<Vec<String>>>,
    rejected: Arc<AtomicU64>,
}

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key.is_some_and(|k| self.accepted.lock().unwrap().iter().any(|a| a == k)) {
            ResponseTemplate::new(200).set_body_string("{\"ok\": true}")
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            ResponseTemplate::new(401).set_body_string("{\"error\": \"invalid API key\"}")
        }
    }
}

impl Api {
    fn accept(&self, keys: &[&str]) {
        *self.accepted.lock().unwrap() = keys.iter().map(|k| k.to_string()).collect();
    }
}

fn rotations() -> usize {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--rotations") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--rotations N"),
        None => 6,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rotations = rotations();
    let api = Api::default();
    api.accept(&["key-0"]);
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(api.clone())
        .mount(&server)
        .await;

    // The secret volume, as mounted at /run/secrets/api (here: a temporary directory).
    let tmp = tempfile::tempdir()?;
    let mount = tmp.path().join("api");
    std::fs::create_dir(&mount)?;
    let mut volume = K8sVolume::create(&mount, &[("api_key", b"key-0")])?;
    println!("secret volume at {}:", mount.display());
    for line in volume.listing()? {
        println!("  {line}");
    }

    // The path the pod reads: the symlink through `..data`. keyswap watches its directory.
    let client = Client::builder()
        .source(Source::file(mount.join("api_key")))
        .auth(Auth::header("X-API-Key"))
        .base_url(server.uri())
        .on_rotate(|r| println!("  client rotated {} -> {}", r.old_version, r.new_version))
        .build()
        .await?;
    println!(
        "source {}, version {}",
        client.source_name(),
        client.credential_version()
    );

    // Four consumers call the API until the rotations are done.
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (client, done, failures) = (client.clone(), done.clone(), failures.clone());
            tokio::spawn(async move {
                let mut sent = 0u64;
                while !done.load(Ordering::Relaxed) {
                    sent += 1;
                    match client.get("/v1/balance").send().await {
                        Ok(resp) if resp.status().is_success() => {}
                        Ok(resp) => {
                            eprintln!("consumer saw HTTP {}", resp.status());
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            eprintln!("consumer saw error: {err}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                sent
            })
        })
        .collect();

    for n in 1..=rotations {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (old, new) = (format!("key-{}", n - 1), format!("key-{n}"));
        let before = client.stats().auth_failures;
        if n % 2 == 1 {
            println!("rotation {n} (planned): API accepts both keys, kubelet updates the volume");
            api.accept(&[&old, &new]);
            volume.update(&[("api_key", new.as_bytes())])?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            api.accept(&[&new]);
            println!("  old key revoked");
        } else {
            println!("rotation {n} (hard revocation): API accepts only the new key now");
            api.accept(&[&new]);
            tokio::time::sleep(Duration::from_millis(150)).await;
            volume.update(&[("api_key", new.as_bytes())])?;
            println!("  kubelet updated the volume 150 ms later");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        println!(
            "  rejections absorbed in this rotation: {}",
            client.stats().auth_failures - before
        );
        if n == 1 {
            println!("  volume after the kubelet's update:");
            for line in volume.listing()? {
                println!("    {line}");
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut requests = 0;
    for consumer in consumers {
        requests += consumer.await?;
    }

    let stats = client.stats();
    let failures = failures.load(Ordering::Relaxed);
    println!();
    println!("requests by consumers:        {requests}");
    println!("failures seen by consumers:   {failures}");
    println!("volume updates:               {rotations}");
    println!("client rotations:             {}", stats.rotations);
    println!("401s absorbed by keyswap:     {}", stats.auth_failures);
    println!("source errors:                {}", stats.source_errors);
    println!("health:                       {:?}", client.health().state);
    if failures > 0 || stats.rotations != rotations as u64 {
        std::process::exit(1);
    }
    Ok(())
}
