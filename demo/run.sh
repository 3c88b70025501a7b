#!/usr/bin/env bash
# `npm run demo` on a fresh Debian machine with Node 20: what the build itself needs first (better-sqlite3
# compiles from source when no prebuilt binary can be fetched: make, g++, python3), then `npm ci` when
# node_modules is missing or older than the lock file, then the build and the demo. The demo installs the
# peers it runs (prosody, kamailio, sipp) itself; see demo/demo.ts.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  install="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "The build needs Debian packages that are missing: ${need[*]}. Install them with:" >&2
    echo "  sudo sh -c '$install'" >&2
    exit 1
  fi
  echo "Installing the Debian packages the build needs: ${need[*]} (apt-get)…"
  sh -c "$install" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
exec node dist/demo/demo.js "$@"
