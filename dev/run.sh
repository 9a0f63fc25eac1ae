#!/usr/bin/env bash
# `npm run bench`, `npm run chaos`: bootstrap what is missing, then run one TypeScript entry point
# on the pinned Node.js, with its arguments, e.g. `bash dev/run.sh proving-ground/bench/run.ts --quick`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source dev/node-env.sh
bash dev/bootstrap.sh
exec node --conditions=development --import=tsx "$@"
