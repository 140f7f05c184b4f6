#!/usr/bin/env bash
# Model check of the credential store and the single-flight (src/store/model.rs,
# src/single_flight/model.rs): loom runs every interleaving of each test's threads, weak memory
# orderings included (no preemption bound: 12 to 909 interleavings a test, about a second in all).
#
# `--cfg keyswap_loom` swaps the primitives in src/sync.rs for loom's. It is given to keyswap
# alone (`cargo rustc` passes flags after `--` to the one crate it builds), so the dependencies
# are the ones `cargo test` builds, not a second build of the whole tree. Unit-test build of the
# library with the suite's features, then only the tests named `model`.
set -euo pipefail
cd "$(dirname "$0")/.."
features=aws,metrics,middleware,tower
# The model tests and the loom shims exist only in this build: lint them here.
cargo clippy --lib -p keyswap --profile test --features "$features" -- --cfg keyswap_loom -D warnings
binary=$(
  cargo rustc --lib -p keyswap --profile test --features "$features" \
    --message-format=json-render-diagnostics -- --cfg keyswap_loom |
    python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
            and msg["target"]["name"] == "keyswap":
        print(msg["executable"])'
)
tests=$("$binary" --list)
[[ $tests == *::model::* ]] || { echo "model-check: no model test was built" >&2; exit 1; }
"$binary" ::model:: --test-threads=2
