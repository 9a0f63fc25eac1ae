#!/usr/bin/env bash
# What `npm test` needs besides what npm start does (dev/bootstrap.sh): Redis and OpenSSL from the
# OS's packages (the suites start their own servers), cfn-lint from PyPI, and the Kubernetes control plane and node
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

# cfn-lint, which infra/cdk/test/cfn-lint.test.ts runs on every synthesized template: from PyPI,
# as root for everyone or else for this user (~/.local/bin, put on PATH here for the run).
if ! command -v cfn-lint >/dev/null; then
  export PATH="$HOME/.local/bin:$PATH"
  if ! command -v cfn-lint >/dev/null; then
    command -v pip3 >/dev/null || { log "please install Python 3 with pip (e.g. sudo apt-get install python3-pip), then: pip3 install cfn-lint"; exit 1; }
    log "installing cfn-lint (pip)"
    if [ "$(id -u)" = 0 ]; then pip3 install --quiet 'cfn-lint>=1.51,<2'; else pip3 install --quiet --user 'cfn-lint>=1.51,<2'; fi
  fi
fi

bash dev/bootstrap.sh
bash proving-ground/bootstrap-kube.sh
