#!/usr/bin/env bash
# Installs Azurite (Microsoft's Azure Storage emulator, an npm package) into a cache folder, once.
#
# The data tests start `azurite-blob` on 127.0.0.1 as their Azure Blob server (tests/data_servers.py).
# Idempotent: when the binary is already there nothing happens, so the test command calls it every time.
# Prints the path of the azurite-blob binary.
#
# Environment:
#   RUNCONFIG_AZURITE_DIR  install folder (default ~/.cache/runconfig-jupyter/azurite)
set -euo pipefail

DIR="${RUNCONFIG_AZURITE_DIR:-$HOME/.cache/runconfig-jupyter/azurite}"
BIN="$DIR/node_modules/.bin/azurite-blob"

die() { printf 'ensure_azurite: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
  command -v npm >/dev/null || die "npm is not installed; install Node.js 18+ (apt-get install -y nodejs npm)"
  mkdir -p "$DIR"
  # One installer at a time: parallel test sessions share the cache folder.
  exec 9>"$DIR.lock"
  flock -w 600 9 || die "another ensure_azurite.sh has held the lock for 10 minutes"
  if [ ! -x "$BIN" ]; then
    printf '==> npm install azurite@3 into %s\n' "$DIR" >&2
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "azurite@3" >&2 \
      || die "npm install azurite@3 failed (is the npm registry reachable?)"
  fi
fi
[ -x "$BIN" ] || die "$BIN is missing after the install"
echo "$BIN"
