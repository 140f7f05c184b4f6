#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 60) each.
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh content expiry     # some targets only
#
# New inputs go to fuzz/.work/corpus/<target> (git-ignored); the committed seeds in
# fuzz/corpus/<target> are read, never written. A crash stops the run, leaves the input in
# fuzz/artifacts/<target>/ and exits non-zero: keep it as a regression test.
# FUZZ_SANITIZER (default none: keyswap forbids unsafe code, so AddressSanitizer only slows
# the search down) is passed to `cargo fuzz --sanitizer`.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "cargo fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

for target in "${targets[@]}"; do
    work="fuzz/.work/corpus/$target"
    mkdir -p "$work" "fuzz/corpus/$target"
    echo "== $target: ${seconds}s (sanitizer: $sanitizer)"
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "fuzzed ${#targets[@]} target(s) for ${seconds}s each: no crash"
