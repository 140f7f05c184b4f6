#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure a moto server (the real AWS Secrets Manager API peer
# of the `aws` feature's tests) is installed in .venv-test/, and tells the tests where it is.
VENV=.venv-test
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet 'moto[server]'
fi
export KEYSWAP_MOTO_SERVER="$PWD/$VENV/bin/moto_server"
