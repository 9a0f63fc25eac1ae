#!/usr/bin/env bash
# `npm run bench`, `npm run chaos`: bootstrap what they need (proving-ground/bootstrap.sh: no
# Kubernetes), then run one TypeScript entry point on the pinned Node.js, with its arguments,
# e.g. `bash proving-ground/run.sh proving-ground/bench/run.ts --quick`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../dev/node-env.sh
source dev/node-env.sh
bash proving-ground/bootstrap.sh
exec node --conditions=development --import=tsx "$@"
