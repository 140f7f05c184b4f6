#!/usr/bin/env bash
# Checks that the library builds with the minimum supported Rust version declared in
# Cargo.toml (`rust-version`). The `aws` feature's AWS crates need a newer compiler (1.94.1);
# the README's feature table says so.
set -euo pipefail
cd "$(dirname "$0")/.."
MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rustup toolchain list | grep -q "^$MSRV" || rustup toolchain install "$MSRV" --profile minimal
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/msrv cargo "+$MSRV" check --lib --locked
