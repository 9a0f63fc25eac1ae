#!/usr/bin/env bash
# `npm run trace`: bootstrap what npm start does (dev/bootstrap.sh: no Kubernetes, no OS package),
# then run one TypeScript entry point on the pinned Node.js, with its arguments, e.g.
# `bash dev/run.sh dev/src/trace.ts 42`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source dev/node-env.sh
bash dev/bootstrap.sh
exec node --conditions=development --import=tsx "$@"
