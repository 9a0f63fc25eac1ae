#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, type-checks and lints everything and runs every jest
# project: unit, infra (CDK template, cdk-nag, manifest schemas) and integration (real daprd,
# Sentry and Redis processes). Extra arguments go to jest, e.g. `npm test -- --selectProjects unit`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=node-env.sh
source dev/node-env.sh
bash proving-ground/bootstrap.sh
# cfn-lint, which infra/cdk/test/cfn-lint.test.ts runs on every synthesized template: from PyPI,
# as root for everyone or else for this user (~/.local/bin, put on PATH here for the run).
if ! command -v cfn-lint >/dev/null; then
  export PATH="$HOME/.local/bin:$PATH"
  if ! command -v cfn-lint >/dev/null; then
    command -v pip3 >/dev/null || { echo "[test] please install Python 3 with pip (e.g. sudo apt-get install python3-pip), then: pip3 install cfn-lint" >&2; exit 1; }
    echo "[test] installing cfn-lint (pip)" >&2
    if [ "$(id -u)" = 0 ]; then pip3 install --quiet 'cfn-lint>=1.51,<2'; else pip3 install --quiet --user 'cfn-lint>=1.51,<2'; fi
  fi
fi

bash proving-ground/bootstrap-kube.sh
echo "[test] building (tsc -b, the apps' bundles) and type-checking" >&2
npm run --silent build
npx tsc -p tsconfig.check.json
# Any ESLint error fails the run before a test starts; `npm run lint -- --fix` mends what it can.
echo "[test] linting (eslint.config.js)" >&2
npx eslint .
mkdir -p .run
status=0
npx jest --ci --json --outputFile=.run/jest-results.json "$@" || status=$?
# A closing line any CI reads, whatever the test runner.
node -e 'const r = require("./.run/jest-results.json"); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`)' || true
exit $status
