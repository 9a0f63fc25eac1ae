#!/usr/bin/env bash
# What `npm test` needs besides what npm start does (dev/bootstrap.sh): Redis and OpenSSL from the
# OS's packages (the suites start their own servers), and the Kubernetes control plane and node
# the deploy/ suites run (proving-ground/bootstrap-kube.sh). Installed only when missing.
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
bash proving-ground/bootstrap-kube.sh
