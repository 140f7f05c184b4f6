//! Instructions per request, keyswap against bare reqwest: a deterministic complement to the
//! wall-clock `overhead` bench, whose numbers swing with scheduling on a small machine.
//!
//! ```sh
//! scripts/bench-instructions.sh        # runs this binary under valgrind's callgrind
//! ```
//!
//! `request_cost <reqwest|keyswap> <n>` sends `n` sequential requests on a single-threaded
//! runtime. Two runs with different `n` give the per-request cost as the difference of their
//! instruction totals divided by the difference of `n` (start-up cancels out).

#[path = "support/stage.rs"]
mod stage;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(which), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: request_cost <reqwest|keyswap> <n>  (see scripts/bench-instructions.sh)");
        return;
    };
    let stage = stage::Stage::start().await;
    let (url, bare, keyswap) = (&stage.url, &stage.bare, &stage.keyswap);
    for _ in 0..n {
        let resp = match which.as_str() {
            "reqwest" => bare.get(url).header("x-api-key", stage::KEY).send().await,
            "keyswap" => keyswap
                .get("/v1/ticker")
                .send()
                .await
                .map_err(|e| panic!("{e}")),
            other => panic!("unknown client {other}"),
        }
        .unwrap();
        assert!(resp.status().is_success());
        resp.bytes().await.unwrap();
    }
}
