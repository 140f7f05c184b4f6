//! A minimal keep-alive HTTP/1.1 API on 127.0.0.1 for the rotation benches: it accepts the
//! `x-api-key` values in its accepted set (200) and rejects the rest (401), and notes when it
//! first saw each key, so a bench can time how long a new key takes to reach requests.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
pub struct Api {
    accepted: Arc<Mutex<HashSet<String>>>,
    first_seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Api {
    pub fn accept_only(&self, keys: &[&str]) {
        *self.accepted.lock().unwrap() = keys.iter().map(|k| k.to_string()).collect();
    }

    pub fn accept_also(&self, key: &str) {
        self.accepted.lock().unwrap().insert(key.to_owned());
    }

    pub fn revoke(&self, key: &str) {
        self.accepted.lock().unwrap().remove(key);
    }

    /// When a request first carried `key`.
    pub fn first_seen(&self, key: &str) -> Option<Instant> {
        self.first_seen.lock().unwrap().get(key).copied()
    }

    fn answer(&self, key: Option<&str>) -> &'static [u8] {
        let Some(key) = key else {
            return b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno";
        };
        self.first_seen
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_insert_with(Instant::now);
        if self.accepted.lock().unwrap().contains(key) {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        } else {
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno"
        }
    }

    /// Serves until the runtime ends; returns the base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let api = api.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut pending = Vec::new();
                    loop {
                        let n = match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                            pending.drain(..end + 4);
                            let key = head.lines().find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("x-api-key").then(|| value.trim())
                            });
                            if conn.write_all(api.answer(key)).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }
}

pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
