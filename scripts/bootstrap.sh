#!/usr/bin/env bash
# Everything `npm start`, `npm test` and `npm run bench` need on a fresh machine, installed only
# when missing: npm dependencies, Redis and OpenSSL from the OS's packages, Dapr built from its Go
# modules, and the Kubernetes control plane the deploy/ tests run (etcd, kube-apiserver,
# kube-controller-manager, kubectl, helm, Dapr's injector and operator), built the same way. Safe to
# run again; a second run costs a second or two.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source scripts/node-env.sh
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# One bootstrap at a time per user: two at once (`npm start` beside `npm test` on a new machine)
# would build the same binaries into the same files. The second waits, then finds them built.
if command -v flock >/dev/null; then
  mkdir -p "$HOME/.cache"
  exec 9>"$HOME/.cache/orders-bootstrap.lock"
  flock -n 9 || { log "waiting for another bootstrap to finish"; flock 9; }
fi

# npm ci would be the usual choice, but npm 11 rejects lockfiles that leave out other platforms'
# optional packages (jest's resolver has many); npm install installs the same locked versions.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
fi

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

bash scripts/bootstrap-dapr.sh
bash scripts/bootstrap-kube.sh
