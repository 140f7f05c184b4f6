#!/usr/bin/env bash
# Instructions per request, keyswap against bare reqwest, counted by valgrind's callgrind:
# repeatable whatever else the machine does. Needs valgrind (apt-get install valgrind).
#   scripts/bench-instructions.sh          # both parts, about three minutes
#   scripts/bench-instructions.sh plain    # plain HTTP (benches/request_cost.rs), about a minute
#   scripts/bench-instructions.sh mtls     # mTLS (benches/mtls_cost.rs), about two minutes
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}

bench_bin() { # bench name -> path of its compiled binary
  cargo bench --bench "$1" --no-run >&2
  cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null \
    | sed -n "s/.*\"executable\":\"\([^\"]*$1-[^\"]*\)\".*/\1/p" | tail -n 1
}
collected() { # valgrind output on stdin -> the event totals of its "Collected" line
  sed -n 's/.*Collected : \([0-9 ]*\).*/\1/p'
}

if [[ $which == all || $which == plain ]]; then
  # Client and server side of a loopback exchange in one process; the whole run is counted,
  # start-up cancels out in the difference of two runs.
  bin=$(bench_bin request_cost)
  count() { # client n -> instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | collected
  }
  small=200 large=1200
  declare -A per
  echo "plain HTTP (benches/request_cost.rs), client and server:"
  for client in reqwest keyswap; do
    a=$(count "$client" "$small"); b=$(count "$client" "$large")
    per[$client]=$(( (b - a) / (large - small) ))
    echo "$client: ${per[$client]} instructions per request"
  done
  awk -v k="${per[keyswap]}" -v r="${per[reqwest]}" 'BEGIN { printf "keyswap / reqwest: %.3f\n", k / r }'
fi

if [[ $which == all || $which == mtls ]]; then
  # The client alone (the server is another process, which valgrind does not follow), and in
  # it only the loop of `measured_requests` (certificates, clients and handshake excluded).
  # With the cache simulated: estimated cycles = L1 hits + 5 x LL hits + 35 x RAM accesses
  # (the estimate of iai / iai-callgrind), which sees what moving large futures costs and
  # instruction counts do not.
  bin=$(bench_bin mtls_cost)
  count() { # contender n -> "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --cache-sim=yes \
      --collect-atstart=no '--toggle-collect=*measured_requests*' "$bin" "$1" "$2" 2>&1 | collected
  }
  small=200 large=1200
  echo "mTLS (benches/mtls_cost.rs), client only, per request:"
  printf '%-14s %12s %12s %10s %10s\n' contender instructions "est. cycles" "L1 misses" "LL misses"
  results=()
  for client in reqwest keyswap keyswap-fixed; do
    a=$(count "$client" "$small"); b=$(count "$client" "$large")
    results+=("$(awk -v a="$a" -v b="$b" -v n=$((large - small)) -v c="$client" 'BEGIN {
      split(a, x, " "); split(b, y, " ");
      for (i = 1; i <= 9; i++) d[i] = (y[i] - x[i]) / n;
      l1 = d[4] + d[5] + d[6]; ll = d[7] + d[8] + d[9];
      cycles = (d[1] + d[2] + d[3] - l1) + 5 * (l1 - ll) + 35 * ll;
      printf "%s %.0f %.0f %.0f %.1f\n", c, d[1], cycles, l1, ll }')")
  done
  printf '%s\n' "${results[@]}" | awk '
    { name[NR] = $1; ir[NR] = $2; cy[NR] = $3; printf "%-14s %12s %12s %10s %10s\n", $1, $2, $3, $4, $5 }
    END {
      printf "keyswap / reqwest: %.3f instructions, %.3f est. cycles\n", ir[2] / ir[1], cy[2] / cy[1];
      printf "keyswap-fixed / reqwest: %.3f instructions, %.3f est. cycles\n", ir[3] / ir[1], cy[3] / cy[1];
      printf "keyswap / keyswap-fixed: %.3f instructions, %.3f est. cycles\n", ir[2] / ir[3], cy[2] / cy[3] }'
fi
