#!/usr/bin/env bash
# Runs every test on a fresh machine: formatting, the module graph (no import cycle) and lints,
# the docs and the core with each feature alone (warnings denied), the supply-chain policy, the
# Rust workspace (unit, integration, property and doc tests, the `aws` feature against a real
# moto server included), the model check of the store and the single-flight (loom), then the
# Python bindings (built into a venv that scripts/test-python.sh creates) with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
# No import cycle among the modules of src/ (a parent and its children count as well), and the
# checker itself catches the cycles of its fixtures.
python3 scripts/check-module-graph.py --self-test
python3 scripts/check-module-graph.py --src src
cargo clippy --workspace --all-targets --features keyswap/aws,keyswap/metrics,keyswap/middleware,keyswap/tower -- -D warnings

# The docs build without a warning (a broken intra-doc link, a bare URL), every feature on but
# the internal `fuzzing` one.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features keyswap/aws,keyswap/metrics,keyswap/middleware,keyswap/tower
# The core builds, warnings denied, with no feature and with each feature of Cargo.toml alone
# (`fuzzing` is internal): an import or item that only some other feature uses shows here.
features=$(sed -n '/^\[features\]/,/^\[/s/^\([a-z0-9_-]*\) = .*/\1/p' Cargo.toml | grep -vx 'default\|fuzzing')
for feature in "" $features; do
  cargo clippy --lib -p keyswap --no-default-features ${feature:+--features "$feature"} -- -D warnings
done

# Supply-chain policy (deny.toml). Licenses, bans and sources need crates.io only; the
# advisory database cannot be fetched on the machines this project is built on, so advisories
# are not checked here (docs/security.md says so): run `cargo deny check advisories` where it
# can. A debug build of cargo-deny installs in about a minute and checks in about a second.
if ! command -v cargo-deny >/dev/null; then
  cargo install cargo-deny --locked --debug --quiet
fi
cargo deny check licenses bans sources

source scripts/moto-env.sh
source scripts/oauth2-server-env.sh
cargo test --workspace --features keyswap/aws,keyswap/metrics,keyswap/middleware,keyswap/tower
# Model check of the store and the single-flight (loom), reusing the test build's dependencies.
scripts/model-check.sh

scripts/test-python.sh
