#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/test-python.sh: installs the real OAuth2 authorization
# server of the OAuth2 tests (oidc-provider, pinned in tests/oauth2_server/package-lock.json)
# with `npm ci` when its packages are missing or older than the lock file. Needs Node.js 20+.
OAUTH2_SERVER_DIR=tests/oauth2_server
if [ ! -d "$OAUTH2_SERVER_DIR/node_modules/oidc-provider" ] ||
   [ "$OAUTH2_SERVER_DIR/package-lock.json" -nt "$OAUTH2_SERVER_DIR/node_modules/.package-lock.json" ]; then
  (cd "$OAUTH2_SERVER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
