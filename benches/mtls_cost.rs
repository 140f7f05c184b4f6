//! The cost of one mTLS request, keyswap's rotating identity against a `reqwest::Client` with a
//! fixed `Identity`, counted two ways that a loaded 2-core machine does not blur the way it
//! blurs wall-clock and scheduler figures (see `mtls.rs` for those):
//!
//! ```sh
//! scripts/bench-instructions.sh          # instructions per request, under callgrind
//! cargo bench --bench mtls_cost -- --cpu --rounds 21 --requests 3000
//! ```
//!
//! - `mtls_cost <reqwest|keyswap|keyswap-fixed> <n>`: `n` sequential requests on a
//!   current-thread runtime after a warm-up (connection open, handshake done), inside
//!   `measured_requests`. `scripts/bench-instructions.sh` runs it under
//!   `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=*measured_requests*`, so
//!   only that loop is counted (not the certificates made, the clients built, the handshake);
//!   two runs with different `n` give instructions per request as the difference of their
//!   totals over the difference of `n`. The server runs in its own process (valgrind does not
//!   follow it), so the count is the client's alone.
//! - `mtls_cost --cpu [--rounds R] [--requests N]`: the client process's CPU time
//!   (`getrusage(RUSAGE_SELF)`, user + system) per request, the same sequential loop, each
//!   contender `N` requests per round in rotating order; medians, and the median of the
//!   per-round ratios. `--windows` also prints, on standard error, when each contender's
//!   requests ran (`window <contender> <start> <end>`, `CLOCK_MONOTONIC` seconds):
//!   `scripts/bench-cpu-profile.sh` attributes `perf` samples to contenders with it.
//!
//! Contenders (`support/mtls_stage.rs`): `reqwest` (fixed `Identity`), `keyswap` (rotating
//! identity, no key) and `keyswap-fixed` (keyswap's request path over the `reqwest` contender's
//! client: what keyswap costs without the rotating identity). All call the same absolute URL.

#[path = "support/mtls_stage.rs"]
mod mtls_stage;

use mtls_stage::{Clients, Contender, Server, arg, median};

/// Requests before anything is counted: the connection opened and its handshake done, the
/// allocator's and the pool's first-use paths taken.
const WARM_UP: usize = 50;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The counted loop: callgrind collects only inside this function (see the module docs).
#[inline(never)]
fn measured_requests(rt: &tokio::runtime::Runtime, clients: &Clients, who: Contender, n: usize) {
    rt.block_on(async {
        for _ in 0..n {
            clients.call(who).await;
        }
    });
}

/// The whole process's user and system CPU time (ns) and context switches, voluntary (a wait
/// for the server) and not, as `getrusage(RUSAGE_SELF)` gives them.
fn usage() -> [f64; 3] {
    // SAFETY: `getrusage` fills the struct it is given; a zeroed `rusage` is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let ns = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    [
        ns(usage.ru_utime),
        ns(usage.ru_stime),
        (usage.ru_nvcsw + usage.ru_nivcsw) as f64,
    ]
}

/// `CLOCK_MONOTONIC` in seconds.
fn monotonic_s() -> f64 {
    // SAFETY: `clock_gettime` fills the struct it is given; a zeroed `timespec` is a valid value.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        assert_eq!(libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t), 0);
        t
    };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn cpu_rounds(
    rt: &tokio::runtime::Runtime,
    clients: &Clients,
    rounds: usize,
    requests: usize,
    windows: bool,
) {
    let all = Contender::ALL;
    // Per round and contender, per request: CPU ns (total, user, system), context switches.
    let mut per_round: Vec<[[f64; 4]; 3]> = Vec::new();
    for r in 0..rounds {
        let mut order = all;
        order.rotate_left(r % all.len());
        let mut per = [[0.0; 4]; 3];
        for who in order {
            let start = monotonic_s();
            let before = usage();
            measured_requests(rt, clients, who, requests);
            let after = usage();
            if windows {
                // For `scripts/bench-cpu-profile.sh`: which contender ran when, on the clock
                // `perf record -k CLOCK_MONOTONIC` stamps its samples with.
                eprintln!("window {} {start:.6} {:.6}", who.name(), monotonic_s());
            }
            let [user, sys, switches] = [0, 1, 2].map(|i| (after[i] - before[i]) / requests as f64);
            per[who as usize] = [user + sys, user, sys, switches];
        }
        println!(
            "{{\"round\":{r},\"cpu_ns_per_req\":{{\"reqwest\":{:.0},\"keyswap\":{:.0},\"keyswap-fixed\":{:.0}}}}}",
            per[0][0], per[1][0], per[2][0]
        );
        per_round.push(per);
    }
    let column = |who: usize, part: usize| per_round.iter().map(|p| p[who][part]).collect();
    let ratio = |a: usize, b: usize| median(per_round.iter().map(|p| p[a][0] / p[b][0]).collect());
    println!("\nmTLS, sequential requests, {rounds} rounds of {requests} per contender (medians)");
    println!("contender       CPU µs/request  user   system  context switches/request");
    for who in all {
        let i = who as usize;
        println!(
            "{:<15} {:>14.2} {:>6.2} {:>7.2} {:>9.3}",
            who.name(),
            median(column(i, 0)) / 1000.0,
            median(column(i, 1)) / 1000.0,
            median(column(i, 2)) / 1000.0,
            median(column(i, 3)),
        );
    }
    println!(
        "keyswap / reqwest: {:.3}; keyswap-fixed / reqwest: {:.3}; keyswap / keyswap-fixed: {:.3} (medians of per-round ratios of CPU)",
        ratio(1, 0),
        ratio(2, 0),
        ratio(1, 2)
    );
    let stats = clients.keyswap.tls_stats().unwrap();
    println!("keyswap handshakes: {}", stats.handshakes);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    mtls_stage::serve_if_asked(&args);
    let server = Server::start();
    let rt = runtime();
    let clients = rt.block_on(Clients::new(&server));
    if args.iter().any(|a| a == "--sizes") {
        let url = &clients.url;
        println!(
            "future sizes, bytes: keyswap (mTLS) send {}, keyswap-fixed send {}, reqwest send {}",
            std::mem::size_of_val(&clients.keyswap.get(url).send()),
            std::mem::size_of_val(&clients.fixed.get(url).send()),
            std::mem::size_of_val(&clients.reqwest.get(url).send()),
        );
        return;
    }
    if args.iter().any(|a| a == "--cpu") {
        for who in Contender::ALL {
            measured_requests(&rt, &clients, who, WARM_UP);
        }
        cpu_rounds(
            &rt,
            &clients,
            arg(&args, "--rounds", 21),
            arg(&args, "--requests", 3000),
            args.iter().any(|a| a == "--windows"),
        );
        return;
    }
    let (Some(who), Some(n)) = (
        args.first().and_then(|w| Contender::parse(w)),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!(
            "usage: mtls_cost <reqwest|keyswap|keyswap-fixed> <n> | --cpu [--rounds R] [--requests N]"
        );
        std::process::exit(2);
    };
    // Warmed up outside the counted function: a call to it would toggle collection on.
    rt.block_on(async {
        for _ in 0..WARM_UP {
            clients.call(who).await;
        }
    });
    measured_requests(&rt, &clients, who, n);
}
