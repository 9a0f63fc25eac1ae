#!/usr/bin/env bash
# What `npm start` needs, installed only when missing and never as root: the npm dependencies and
# the Dapr CLI, daprd, Sentry and Jaeger (dev/dapr-binaries.sh). No OS package and no Kubernetes
# binary. With --redis (npm start), it first makes sure there will be a Redis: the user's on
# 6379, or redis-server to start one. Safe to run again; a second run costs a second or two.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source dev/node-env.sh
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

# Said before the Dapr builds, which take minutes the first time.
if [ "${1:-}" = --redis ]; then node --conditions=development --import=tsx dev/src/redis.ts; fi

bash dev/dapr-binaries.sh
