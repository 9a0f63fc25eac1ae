#!/usr/bin/env bash
# What the bench, chaos and the suites need besides what npm start does (dev/bootstrap.sh): Redis
# and OpenSSL from the OS's packages (they start their own servers). Installed only when missing.
# The Kubernetes binaries are bootstrap-kube.sh's, which only `npm test` runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]}, or brew install redis openssl)"
    exit 1
  fi
fi

bash dev/bootstrap.sh
