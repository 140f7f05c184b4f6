#!/usr/bin/env bash
# Builds the Python bindings (bindings/python) as a wheel, installs it into a venv this
# script creates, then runs their pytest suite. Works on a fresh machine with python3 and
# cargo; needs only PyPI.
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
"$PY" -m pip install --quiet --disable-pip-version-check "maturin>=1.16,<2" "pytest>=8" "gunicorn>=23"

# Build the wheel users would install (abi3, stubs and py.typed included) with the workspace's
# shared target/ directory, and install it into the venv; pytest then imports the installed
# package, not the source tree.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WHEELS=$CARGO_TARGET_DIR/wheels
rm -f "$WHEELS"/keyswap-*.whl
rm -f "$PKG"/python/keyswap/_keyswap*.so   # a stale `maturin develop` build would shadow it
if [ "$PROFILE" = release ]; then
  (cd "$PKG" && "$ROOT/$VENV/bin/maturin" build --release --quiet --out "$WHEELS")
else
  (cd "$PKG" && "$ROOT/$VENV/bin/maturin" build --profile "$PROFILE" --quiet --out "$WHEELS")
fi
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/keyswap-*.whl
"$PY" - <<'PYCHECK'
import pathlib, keyswap
pkg = pathlib.Path(keyswap.__file__).parent
missing = [f for f in ("_keyswap.pyi", "py.typed") if not (pkg / f).exists()]
assert "site-packages" in str(pkg), f"tests would import the source tree: {pkg}"
assert not missing, f"the wheel lacks {missing}"
PYCHECK

source scripts/oauth2-server-env.sh

cd "$PKG"
exec "$PY" -m pytest -q tests "$@"
