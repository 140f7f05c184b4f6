//! What both benches run on: a minimal keep-alive HTTP/1.1 server on 127.0.0.1 answering
//! every request with a fixed 200 (so the client side dominates), a bare reqwest client that
//! sets the key by hand, and a keyswap client reading the same key from a file.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";

/// Serves a fixed 200 on 127.0.0.1, keep-alive; returns the base URL.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    // Requests here have no body: each ends at the blank line.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if conn.write_all(RESPONSE).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// The key both contenders send, in the `x-api-key` header.
pub const KEY: &str = "bench-key-0123456789";

/// The server and the two clients under comparison.
pub struct Stage {
    /// The absolute URL the bare client calls.
    pub url: String,
    /// Bare reqwest, redirects off like keyswap's own client.
    pub bare: reqwest::Client,
    /// keyswap with a file source (no watcher or poll: nothing runs beside the requests) and
    /// header auth; call it with the relative path `/v1/ticker`.
    pub keyswap: keyswap::Client,
    _key_dir: tempfile::TempDir,
}

impl Stage {
    pub async fn start() -> Stage {
        let base = serve().await;
        let key_dir = tempfile::tempdir().unwrap();
        let key_file = key_dir.path().join("api_key");
        std::fs::write(&key_file, KEY).unwrap();
        let bare = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let keyswap = keyswap::Client::builder()
            .source(
                keyswap::Source::file(&key_file)
                    .watch(false)
                    .poll_interval(None),
            )
            .auth(keyswap::Auth::header("x-api-key"))
            .base_url(&base)
            .build()
            .await
            .unwrap();
        Stage {
            url: format!("{base}/v1/ticker"),
            bare,
            keyswap,
            _key_dir: key_dir,
        }
    }
}
