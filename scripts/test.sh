#!/usr/bin/env bash
# Runs every test on a fresh machine: the Rust workspace (unit, integration, doc tests), then
# the Python bindings (built into a venv this script creates) with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace

# The AWS Secrets Manager source (feature `aws`) against a real moto server.
scripts/test-aws.sh

if [ -x scripts/test-python.sh ]; then
  scripts/test-python.sh
fi
