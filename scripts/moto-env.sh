#!/usr/bin/env bash
# Runs keyswap's tests with the `aws` feature, the AWS Secrets Manager source against a real
# moto server included. Installs moto[server] into .venv-test/ (created if missing) and tells
# the test where it is through KEYSWAP_MOTO_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-test
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet 'moto[server]'
fi
export KEYSWAP_MOTO_SERVER="$PWD/$VENV/bin/moto_server"

cargo test -p keyswap --features aws
