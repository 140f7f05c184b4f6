#!/usr/bin/env bash
# Runs every test on a fresh machine: the Rust workspace (unit, integration and doc tests, the
# `aws` feature against a real moto server included), then the Python bindings (built into a
# venv that scripts/test-python.sh creates) with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/moto-env.sh
cargo test --workspace --features keyswap/aws

scripts/test-python.sh
