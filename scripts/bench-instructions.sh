#!/usr/bin/env bash
# Instructions per request (client and server side of a loopback exchange), keyswap against
# bare reqwest, counted by valgrind's callgrind: repeatable whatever else the machine does.
# Needs valgrind (apt-get install valgrind). Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench request_cost --no-run
bin=$(cargo bench --bench request_cost --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*request_cost[^"]*\)".*/\1/p' | tail -n 1)
count() { # client n -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
small=200 large=1200
declare -A per
for client in reqwest keyswap; do
  a=$(count "$client" "$small"); b=$(count "$client" "$large")
  per[$client]=$(( (b - a) / (large - small) ))
  echo "$client: ${per[$client]} instructions per request"
done
awk -v k="${per[keyswap]}" -v r="${per[reqwest]}" 'BEGIN { printf "keyswap / reqwest: %.3f\n", k / r }'
