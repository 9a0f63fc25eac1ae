#!/usr/bin/env bash
# Builds the Dapr CLI, daprd and sentry from their Go modules at the versions pinned in
# packages/common/topology.json, into ~/.dapr/bin where the CLI looks for them. A binary that is
# already there at its pinned version is left alone, so this is cheap to call before every run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pinned() { node -p "require('$root/packages/common/topology.json').$1"; }
dapr_version=$(pinned daprVersion)
cli_version=$(pinned daprCliVersion)
jaeger_version=$(pinned jaegerVersion)

bin=${DAPR_INSTALL_DIR:-$HOME/.dapr}/bin
mkdir -p "$bin"
log() { printf '[bootstrap-dapr] %s\n' "$*" >&2; }
# shellcheck source=go-build-lib.sh
source "$root/dev/go-build.sh"

runtime_ldflags="-X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version"
# The CLI's own pin of components-contrib (v1.16.3) is not served by the module proxy; v1.16.0 of
# the same minor is, and the CLI only uses its component metadata types.
build dapr github.com/dapr/cli "$cli_version" . "" \
  "-X main.version=$cli_version -X main.apiVersion=1.0" \
  "github.com/dapr/components-contrib=github.com/dapr/components-contrib@v1.16.0"
build sentry github.com/dapr/dapr "$dapr_version" ./cmd/sentry "" "$runtime_ldflags"
# daprd registers no component without a build tag; allcomponents also brings the SQLite name
# resolver for machines where mDNS does not resolve.
build daprd github.com/dapr/dapr "$dapr_version" ./cmd/daprd allcomponents "$runtime_ldflags"
# Jaeger v2 (an OpenTelemetry Collector distribution with Jaeger's storage and query API) is the
# local trace viewer of `npm start` and the trace tests. The module carries no UI assets
# (cmd/query/app/ui/actual holds only a .gitignore; the release build embeds jaeger-ui, a git
# submodule), so the binary serves a placeholder page and `npm run trace` is the viewer.
build jaeger github.com/jaegertracing/jaeger "$jaeger_version" ./cmd/jaeger "" \
  "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_version"
log "dapr CLI $cli_version, daprd and sentry $dapr_version, jaeger $jaeger_version ready in $bin"
