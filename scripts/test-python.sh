#!/usr/bin/env bash
# Builds the Python bindings (bindings/python) into a venv this script creates, then runs
# their pytest suite. Works on a fresh machine with python3 and cargo; needs only PyPI.
#
#   KEYSWAP_PY_PROFILE=release scripts/test-python.sh   # optimized build (~3 min cold)
#
# Default profile: dev. The Rust workspace tests (scripts/test.sh) have then already compiled
# every dependency in that profile into the shared target/, so the extension builds in seconds;
# the suite tests behaviour, not speed (the benchmark builds --release itself).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PKG=bindings/python
VENV=$PKG/.venv
PROFILE=${KEYSWAP_PY_PROFILE:-dev}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY=$ROOT/$VENV/bin/python
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23"
"$PY" -m pip install --quiet --disable-pip-version-check "maturin>=1.16,<2" "pytest>=8"

# maturin develop installs into the venv named by VIRTUAL_ENV; the build uses the workspace's
# shared target/ directory.
export VIRTUAL_ENV=$ROOT/$VENV
export PATH=$VIRTUAL_ENV/bin:$PATH
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$PROFILE" = release ]; then
  (cd "$PKG" && maturin develop --release --quiet)
else
  (cd "$PKG" && maturin develop --profile "$PROFILE" --quiet)
fi

cd "$PKG"
exec "$PY" -m pytest -q tests "$@"
