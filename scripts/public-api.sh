#!/usr/bin/env bash
# Writes docs/public-api.txt: keyswap's public API as `cargo public-api` lists it, with every
# public feature on (all of Cargo.toml's but `default` and the internal `fuzzing`) and without
# the impls nobody writes (auto traits, blanket and derived impls: `-sss`). Prints the counts
# that docs/public-api.md quotes.
#
#   scripts/public-api.sh                 writes docs/public-api.txt and prints its counts
#   scripts/public-api.sh --count FILE    prints the counts of a listing made elsewhere
#
# Needs a nightly toolchain (rustdoc's JSON output) and cargo-public-api: installs what is
# missing (the first install of cargo-public-api takes several minutes). Not part of
# scripts/test.sh: the listing is a document, refreshed when the API changes.
set -euo pipefail
cd "$(dirname "$0")/.."

count() {
  python3 - "$1" <<'PY'
import re, sys
items = members = impls = 0
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line:
        continue
    if line.startswith("impl"):
        impls += 1
        continue
    # The item's path: the first one on the line (`keyswap::...`, or `F::now` for a method of
    # a blanket impl); `pub mod keyswap` has none. Generic parameters are dropped first.
    head = line.split("(")[0]
    while re.search(r"<[^<>]*>", head):
        head = re.sub(r"<[^<>]*>", "", head)
    found = re.search(r"\b(?:[A-Za-z_]\w*::)+[A-Za-z_]\w*", head)
    path = found.group() if found else "keyswap"
    parent = path.rpartition("::")[0].rpartition("::")[2]
    # A path under a type (capitalised) is a method, field, variant or associated item.
    if parent[:1].isupper():
        members += 1
    else:
        items += 1
print(f"{items} items (modules, re-exports, types, traits, functions, constants), "
      f"{members} members (methods, fields, variants, associated items), {impls} impls")
PY
}

if [[ ${1:-} == --count ]]; then
  count "$2"
  exit
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-public-api >/dev/null || cargo install --locked cargo-public-api
features=$(sed -n '/^\[features\]/,/^\[/s/^\([a-z0-9_-]*\) = .*/\1/p' Cargo.toml | grep -vx 'default\|fuzzing' | paste -sd, -)
cargo public-api -p keyswap --features "$features" -sss >docs/public-api.txt
echo "docs/public-api.txt ($features):"
count docs/public-api.txt
