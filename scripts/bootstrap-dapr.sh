#!/usr/bin/env bash
# Builds the Dapr CLI, daprd and sentry from their Go modules at the versions pinned in
# packages/common/topology.json, into ~/.dapr/bin where the CLI looks for them. A binary that is
# already there at its pinned version is left alone, so this is cheap to call before every run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pinned() { node -p "require('$root/packages/common/topology.json').$1"; }
dapr_version=$(pinned daprVersion)
cli_version=$(pinned daprCliVersion)

bin=${DAPR_INSTALL_DIR:-$HOME/.dapr}/bin
mkdir -p "$bin"
export GOFLAGS=-buildvcs=false

log() { printf '[bootstrap-dapr] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go is needed to build Dapr: install it from https://go.dev/dl"; exit 1; }

up_to_date() { # binary, version
  [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]
}

module_dir() { # module, version
  go mod download -json "$1@v$2" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s); if (m.Error) { console.error(m.Error); process.exit(1); } console.log(m.Dir);
    });'
}

# `go install pkg@version` refuses modules with replace directives (dapr/dapr has some) and asks
# the proxy for version lists it may refuse, so each module is downloaded at its exact version and
# built inside its own directory, or inside a writable copy when it needs a replace of its own.
build() { # binary, module, version, package, tags, ldflags, [replace]
  local name=$1 module=$2 version=$3 pkg=$4 tags=$5 ldflags=$6 replace=${7:-} dir
  up_to_date "$name" "$version" && return 0
  log "building $name $version (first run only; daprd takes several minutes)"
  dir=$(module_dir "$module" "$version")
  if [ -n "$replace" ]; then
    local copy
    copy=$(mktemp -d)
    cp -r "$dir/." "$copy" && chmod -R u+w "$copy"
    (cd "$copy" && go mod edit -replace "$replace")
    dir=$copy
  fi
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -tags "$tags" -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
  [ -n "$replace" ] && rm -rf "$dir"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$version" >"$bin/.$name.version"
}

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
log "dapr CLI $cli_version, daprd and sentry $dapr_version ready in $bin"
