//! Helpers shared by the integration tests: a local API whose accepted keys the test controls,
//! a source the test drives by hand, and the real ways key files get updated.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyswap::{BoxFuture, Credential, CredentialSource, Error};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const KEY_HEADER: &str = "x-api-key";

/// A local API that answers 200 to requests carrying an accepted key in `x-api-key`, and
/// `reject_status` (401) to the rest. The test decides which keys are accepted, when.
#[derive(Clone)]
pub struct Api {
    accepted: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
    reject_status: u16,
}

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req
            .headers
            .get(KEY_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().unwrap().push(key.clone());
        let ok = key.is_some_and(|k| self.accepted.lock().unwrap().contains(&k));
        if ok {
            ResponseTemplate::new(200).set_body_string("ok")
        } else {
            ResponseTemplate::new(self.reject_status).set_body_string("invalid api key")
        }
    }
}

impl Api {
    pub async fn start(accepted: &[&str]) -> (MockServer, Api) {
        Self::start_with_status(accepted, 401).await
    }

    pub async fn start_with_status(accepted: &[&str], reject_status: u16) -> (MockServer, Api) {
        let api = Api {
            accepted: Arc::new(Mutex::new(accepted.iter().map(|s| s.to_string()).collect())),
            seen: Arc::default(),
            reject_status,
        };
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(api.clone())
            .mount(&server)
            .await;
        (server, api)
    }

    pub fn accept_only(&self, keys: &[&str]) {
        *self.accepted.lock().unwrap() = keys.iter().map(|s| s.to_string()).collect();
    }

    /// The keys the server received, one entry per request (None: no key header).
    pub fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A source the test sets by hand, counting its loads; each load can be made slow.
#[derive(Clone)]
pub struct ManualSource {
    current: Arc<Mutex<Result<String, String>>>,
    pub loads: Arc<AtomicUsize>,
    delay: Duration,
    /// When set, every load returns a key never returned before (k-0, k-1, …).
    always_new: bool,
    secret: Option<String>,
}

impl ManualSource {
    pub fn new(key: &str) -> Self {
        ManualSource {
            current: Arc::new(Mutex::new(Ok(key.to_owned()))),
            loads: Arc::default(),
            delay: Duration::ZERO,
            always_new: false,
            secret: None,
        }
    }

    /// Every credential loaded carries this signing secret too.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn always_new(mut self) -> Self {
        self.always_new = true;
        self
    }

    pub fn set(&self, key: &str) {
        *self.current.lock().unwrap() = Ok(key.to_owned());
    }

    pub fn fail(&self, why: &str) {
        *self.current.lock().unwrap() = Err(why.to_owned());
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl CredentialSource for ManualSource {
    fn name(&self) -> String {
        "manual".into()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            let n = self.loads.fetch_add(1, Ordering::SeqCst);
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if self.always_new {
                return Ok(Credential::new(format!("k-{n}")));
            }
            match &*self.current.lock().unwrap() {
                Ok(key) => Ok(match &self.secret {
                    Some(secret) => Credential::new(key.clone()).with_secret(secret.clone()),
                    None => Credential::new(key.clone()),
                }),
                Err(why) => Err(Error::source("manual", why.clone())),
            }
        })
    }
}

/// A builder for a client of `source` with header auth against `server`.
pub async fn client(source: &ManualSource, server: &MockServer) -> keyswap::ClientBuilder {
    keyswap::Client::builder()
        .source(keyswap::Source::custom(source.clone()))
        .auth(keyswap::Auth::header(KEY_HEADER))
        .base_url(server.uri())
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn version_of(key: &str) -> String {
    Credential::new(key).version().to_owned()
}

/// Writes to a temporary file in the same directory and renames it over `path`.
pub fn write_atomic(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A Kubernetes secret volume, updated the way the kubelet's AtomicWriter does it:
/// files go into a new `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed
/// over `..data`, user-visible names are symlinks `<name> -> ..data/<name>`, and the old
/// timestamped directory is removed.
pub struct K8sVolume {
    pub dir: PathBuf,
    generation: usize,
}

impl K8sVolume {
    pub fn create(dir: &Path, files: &[(&str, &[u8])]) -> Self {
        let mut volume = K8sVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        volume
    }

    pub fn update(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let ts = format!(
            "..2026_11_22_12_00_{:02}.{:09}",
            self.generation,
            self.generation * 7919
        );
        let ts_dir = self.dir.join(&ts);
        std::fs::create_dir(&ts_dir).unwrap();
        for (name, content) in files {
            std::fs::write(ts_dir.join(name), content).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp_link = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&ts, &tmp_link).unwrap();
        std::fs::rename(&tmp_link, self.dir.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// Consumers sending `GET path` through one client in a loop until stopped, counting every
/// request that did not end in a 200 (an error, or the server's refusal handed back).
pub struct Consumers {
    stop: Arc<std::sync::atomic::AtomicBool>,
    failures: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<usize>>,
}

impl Consumers {
    pub fn start(client: &keyswap::Client, n: usize, path: &'static str) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(0));
        let tasks = (0..n)
            .map(|_| {
                let (client, stop, failures) = (client.clone(), stop.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut done = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let ok = client
                            .get(path)
                            .send()
                            .await
                            .is_ok_and(|r| r.status() == 200);
                        if !ok {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        Consumers {
            stop,
            failures,
            tasks,
        }
    }

    /// Stops them; returns (requests, failures).
    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let mut requests = 0;
        for task in self.tasks {
            requests += task.await.unwrap();
        }
        (requests, self.failures.load(Ordering::SeqCst))
    }
}
