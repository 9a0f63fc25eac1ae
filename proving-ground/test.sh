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
