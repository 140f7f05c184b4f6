#!/usr/bin/env bash
# Checks that the Python package installs the ways the bindings' README says (minutes: two
# release builds):
#   1. `pip install ./bindings/python` into a fresh venv, then `import keyswap`;
#   2. `maturin build --release` gives one abi3 wheel (cp39-abi3);
#   3. `maturin sdist` gives an sdist that holds the keyswap crate, and a fresh venv installs
#      from it (built with a fresh target directory, so nothing comes from this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

check_import() {
  "$1/bin/python" - <<'PY'
import keyswap, pathlib
pkg = pathlib.Path(keyswap.__file__).parent
assert (pkg / "_keyswap.pyi").exists() and (pkg / "py.typed").exists(), pkg
c = keyswap.Client(source="env:HOME", auth="header:X-API-Key")
assert c.health().state == "fresh"
print("ok:", keyswap.__version__, pkg)
PY
}

echo "== pip install ./bindings/python"
python3 -m venv "$WORK/v1"
"$WORK/v1/bin/pip" install --quiet --disable-pip-version-check ./bindings/python
check_import "$WORK/v1"

echo "== maturin build --release / maturin sdist"
"$WORK/v1/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.16,<2"
(cd bindings/python && "$WORK/v1/bin/maturin" build --release --quiet --out "$WORK/dist" \
  && "$WORK/v1/bin/maturin" sdist --out "$WORK/dist")
ls "$WORK/dist"
ls "$WORK/dist"/keyswap-*-cp39-abi3-*.whl >/dev/null
SDIST=$(ls "$WORK/dist"/keyswap-*.tar.gz)
tar tzf "$SDIST" >"$WORK/sdist-files"   # (not piped into grep -q: SIGPIPE under pipefail)
grep -q '^keyswap-[^/]*/src/lib.rs$' "$WORK/sdist-files" || { echo "sdist lacks the keyswap crate"; exit 1; }

echo "== pip install <sdist> (fresh target directory)"
python3 -m venv "$WORK/v2"
(cd "$WORK" && CARGO_TARGET_DIR="$WORK/sdist-target" "$WORK/v2/bin/pip" install --quiet \
  --disable-pip-version-check --no-cache-dir "$SDIST")
check_import "$WORK/v2"
echo "packaging: all checks passed"
