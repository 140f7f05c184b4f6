//! A minimal keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with a fixed 200:
//! the server side of `benches/request_path.rs`, run in its own process so its CPU time is not
//! counted as the client's.
//!
//! ```sh
//! cargo run --release --example bench_server [-- --threads N]
//! ```
//!
//! Prints its base URL (`http://127.0.0.1:PORT`) on the first line of stdout, then serves until
//! its stdin is closed (the bench that started it exited) or it is killed. `--threads` sets the
//! Tokio worker threads (default 1: the server stays off the client's second core as far as
//! it can).

use std::io::{Read, Write};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";

fn main() {
    let mut args = std::env::args().skip(1);
    let mut threads = 1usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--threads N")
            }
            other => panic!("unknown argument {other:?} (usage: bench_server [--threads N])"),
        }
    }
    // Exit when the parent closes our stdin (or exits).
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    runtime.block_on(serve());
}

async fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{addr}").expect("stdout");
        out.flush().expect("stdout");
    }
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let _ = conn.set_nodelay(true);
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
}
