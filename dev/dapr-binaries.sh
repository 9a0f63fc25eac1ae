#!/usr/bin/env bash
# Makes the Dapr CLI, daprd, sentry and Jaeger of the versions pinned in
# packages/common/topology.json ready in one directory (dev/src/dapr-binaries.ts says which, and
# why there): a Dapr install already at those versions is linked, never replaced; whatever is
# missing is built from its Go module, once. Cheap to call before every run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[bootstrap-dapr] %s\n' "$*" >&2; }

# The location, the versions and what is left to build, from the one module that defines them.
resolved=$(cd "$root" && node --conditions=development --import=tsx dev/src/dapr-binaries.ts)
{
  read -r runtime_path
  read -r cli_version
  read -r dapr_version
  read -r jaeger_version
  to_build=()
  while read -r name; do to_build+=("$name"); done
} <<<"$resolved"
bin=$runtime_path/.dapr/bin

if [ ${#to_build[@]} -eq 0 ]; then
  log "dapr CLI $cli_version, daprd and sentry $dapr_version, jaeger $jaeger_version ready in $bin"
  exit 0
fi
# Said before anything is downloaded or built: what is missing, and the ways to get it.
if ! command -v go >/dev/null; then
  log "to build ${to_build[*]} into $bin, Go is needed: install it from https://go.dev/dl (or brew install go)."
  log "A Dapr CLI $cli_version, daprd $dapr_version and sentry $dapr_version already installed (\$DAPR_INSTALL_DIR, ~/.dapr/bin or PATH) are used instead of builds; Jaeger is always built."
  exit 1
fi
# shellcheck source=go-build.sh
source "$root/dev/go-build.sh"
module_of() { # binary: its Go module and version
  case $1 in
    dapr) echo "github.com/dapr/cli $cli_version" ;;
    daprd | sentry) echo "github.com/dapr/dapr $dapr_version" ;;
    jaeger) echo "github.com/jaegertracing/jaeger $jaeger_version" ;;
  esac
}
# shellcheck disable=SC2046 # module_of says two words: module and version
for name in "${to_build[@]}"; do require_go_for $(module_of "$name"); done

runtime_ldflags="-X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version"
# shellcheck disable=SC2046
for name in "${to_build[@]}"; do
  case $name in
    # The CLI's own pin of components-contrib (v1.16.3) is not served by the module proxy; v1.16.0
    # of the same minor is, and the CLI only uses its component metadata types.
    dapr) build dapr $(module_of dapr) . "" \
      "-X main.version=$cli_version -X main.apiVersion=1.0" \
      "github.com/dapr/components-contrib=github.com/dapr/components-contrib@v1.16.0" ;;
    sentry) build sentry $(module_of sentry) ./cmd/sentry "" "$runtime_ldflags" ;;
    # daprd registers no component without a build tag; allcomponents also brings the SQLite name
    # resolver for machines where mDNS does not resolve.
    daprd) build daprd $(module_of daprd) ./cmd/daprd allcomponents "$runtime_ldflags" ;;
    # Jaeger v2 (an OpenTelemetry Collector distribution with Jaeger's storage and query API) is the
    # local trace viewer of `npm start` and the trace tests. The module carries no UI assets
    # (cmd/query/app/ui/actual holds only a .gitignore; the release build embeds jaeger-ui, a git
    # submodule), so the binary serves a placeholder page and `npm run trace` is the viewer.
    jaeger) build jaeger $(module_of jaeger) ./cmd/jaeger "" \
      "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_version" ;;
  esac
done
log "dapr CLI $cli_version, daprd and sentry $dapr_version, jaeger $jaeger_version ready in $bin"
