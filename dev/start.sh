#!/usr/bin/env bash
# `npm start`: bootstrap what is missing, then run the whole system in the foreground.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source dev/node-env.sh
bash dev/bootstrap.sh --redis
exec node --conditions=development --import=tsx dev/src/start.ts
