#!/usr/bin/env bash
# Where the client's CPU time goes, per contender, in one interleaved run of
# `benches/mtls_cost.rs --cpu`: `perf record` samples the client process on the CPU clock (no
# hardware counters needed, so it works in a VM), the bench prints when each contender's
# requests ran, and scripts/cpu_by_window.py attributes each sample to the contender that was
# running, then prints samples per request (user and kernel) and the symbols that differ most
# between keyswap and reqwest. Needs perf (apt-get install linux-perf).
#   scripts/bench-cpu-profile.sh [ROUNDS] [REQUESTS]     # default 41 rounds of 600
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-41} requests=${2:-600}
cargo bench --bench mtls_cost --no-run >&2
bin=$(cargo bench --bench mtls_cost --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*mtls_cost-[^"]*\)".*/\1/p' | tail -n 1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
perf record -q -e cpu-clock -F 10000 -k CLOCK_MONOTONIC -o "$out/perf.data" -- \
  "$bin" --cpu --windows --rounds "$rounds" --requests "$requests" 2>"$out/windows" | tail -n 6
perf script -i "$out/perf.data" -F pid,time,ip,sym,dso 2>/dev/null >"$out/samples"
python3 scripts/cpu_by_window.py "$out/windows" "$out/samples" "$requests"
