#!/usr/bin/env bash
# Builds what the Kubernetes tests (test/kubernetes) run, from Go modules at pinned versions,
# into a cache of its own (~/.cache/orders-kube/bin, or $ORDERS_KUBE_HOME/bin): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl of the
# Kubernetes version the CDK app creates on EKS, CoreDNS, helm, kube-router (its network policy
# controller enforces deploy/'s NetworkPolicies on the node), and Dapr's sidecar injector,
# operator, placement and scheduler from the same dapr/dapr module as daprd, and every program of
# the Dapr release the day 2 suite upgrades from (harness/kubernetes/dapr-upgrade.json). It also installs
# from the OS's packages what a real node needs besides: containerd, runc, the CNI plugins,
# iptables, ipset (kube-router's), conntrack and buildah. A binary or package already there is
# left alone, so this is cheap to call before every run. Versions:
# infra/cdk/kubernetes-versions.json, packages/common/topology.json and dapr-upgrade.json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pinned() { node -p "require('$1').$2"; }
versions=$root/infra/cdk/kubernetes-versions.json
kube_version=$(pinned "$versions" kubernetes)
etcd_version=$(pinned "$versions" etcd)
helm_version=$(pinned "$versions" helm)
coredns_version=$(pinned "$versions" coredns)
kube_router_version=$(pinned "$versions" kubeRouter)
dapr_version=$(pinned "$root/packages/common/topology.json" daprVersion)

home=${ORDERS_KUBE_HOME:-$HOME/.cache/orders-kube}
bin=$home/bin
mkdir -p "$bin"
log() { printf '[bootstrap-kube] %s\n' "$*" >&2; }
# shellcheck source=go-build-lib.sh
source "$root/dev/go-build.sh"
# Module copies are large (k8s.io/kubernetes: hundreds of MB); none outlives this script.
trap 'rm -rf "$home"/src.*' EXIT

# A writable copy of a module whose go.mod replaces sibling modules with paths inside its own
# repository (k8s.io/kubernetes' ./staging/..., etcd's ../api): the module zip holds none of them,
# so each becomes the published module of the same release. Printed: the copy's directory.
module_copy() { # module, version, version of the replaced siblings
  local module=$1 version=$2 siblings=$3 dir copy
  dir=$(module_dir "$module" "$version")
  copy=$(mktemp -d "$home/src.XXXXXX")
  cp -r "$dir/." "$copy" && chmod -R u+w "$copy"
  # k8s.io/kubernetes ships an empty vendor/ and a go.work over staging/: both would win over go.mod.
  rm -rf "$copy/vendor" "$copy/go.work" "$copy/go.work.sum"
  (
    cd "$copy"
    go mod edit -toolchain=none
    go mod edit -json | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        for (const r of JSON.parse(s).Replace ?? []) {
          if (!r.New.Path.startsWith(".")) continue;
          // etcd guards against its own root module with ./FORBIDDEN_DEPENDENCY; nothing needs it.
          if (r.New.Path.includes("FORBIDDEN")) console.log(`-dropreplace=${r.Old.Path}`);
          else console.log(`-replace=${r.Old.Path}=${r.Old.Path}@v${process.argv[1]}`);
        }
      });' "$siblings" | xargs go mod edit
  )
  echo "$copy"
}

build_from_copy() { # module, version, siblings' version, ldflags, then binary=package pairs
  local module=$1 version=$2 siblings=$3 ldflags=$4 pair missing=() packages=() dir
  shift 4
  for pair in "$@"; do up_to_date "${pair%%=*}" "$version" || missing+=("$pair"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "building ${missing[*]%%=*} $version from $module (first run only)"
  dir=$(module_copy "$module" "$version" "$siblings")
  for pair in "${missing[@]}"; do packages+=("${pair#*=}"); done
  # Resolves and records every dependency's checksum first: without it a build can stop on a
  # go.sum entry the rewritten go.mod lacks.
  timed "dependencies of ${missing[*]%%=*}" bash -c 'cd "$1" && shift && GOFLAGS="$GOFLAGS -mod=mod" go list -deps "$@" >/dev/null' _ "$dir" "${packages[@]}"
  for pair in "${missing[@]}"; do
    timed "${pair%%=*}" bash -c 'cd "$1" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "-s -w $2" -o "$3" "$4"' \
      _ "$dir" "$ldflags" "$bin/${pair%%=*}.tmp" "${pair#*=}"
    install_built "${pair%%=*}" "$version"
  done
  rm -rf "$dir"
}

minor=${kube_version#*.}
minor=${minor%%.*}
build_from_copy go.etcd.io/etcd/server/v3 "$etcd_version" "$etcd_version" \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=v$etcd_version" etcd=.
build helm helm.sh/helm/v3 "$helm_version" ./cmd/helm "" "-X helm.sh/helm/v3/internal/version.version=v$helm_version"
build_from_copy k8s.io/kubernetes "$kube_version" "0.${kube_version#*.}" \
  "-X k8s.io/component-base/version.gitVersion=v$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
  kube-apiserver=./cmd/kube-apiserver kube-controller-manager=./cmd/kube-controller-manager kubectl=./cmd/kubectl \
  kube-scheduler=./cmd/kube-scheduler kubelet=./cmd/kubelet kube-proxy=./cmd/kube-proxy
# CoreDNS's module root is its main package; its go.mod replaces nothing.
build coredns github.com/coredns/coredns "$coredns_version" . "" "-X github.com/coredns/coredns/coremain.GitCommit=v$coredns_version"
# kube-router's go.mod replaces nothing; of it the node runs the network policy controller only.
build kube-router github.com/cloudnativelabs/kube-router/v2 "$kube_router_version" ./cmd/kube-router "" "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$kube_router_version"
runtime_ldflags="-X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version"
build injector github.com/dapr/dapr "$dapr_version" ./cmd/injector "" "$runtime_ldflags"
build operator github.com/dapr/dapr "$dapr_version" ./cmd/operator "" "$runtime_ldflags"
build placement github.com/dapr/dapr "$dapr_version" ./cmd/placement "" "$runtime_ldflags"
build scheduler github.com/dapr/dapr "$dapr_version" ./cmd/scheduler "" "$runtime_ldflags"

# The release the day 2 suite upgrades from (harness/kubernetes/dapr-upgrade.json), each program of
# it, daprd and sentry too, in a directory of its own, beside the pinned release's.
upgrade_from=$(pinned "$root/proving-ground/harness/kubernetes/dapr-upgrade.json" from)
(
  bin=$bin/dapr-$upgrade_from
  mkdir -p "$bin"
  ldflags="-X github.com/dapr/dapr/pkg/buildinfo.version=$upgrade_from"
  build daprd github.com/dapr/dapr "$upgrade_from" ./cmd/daprd allcomponents "$ldflags"
  for program in sentry injector operator placement; do
    build "$program" github.com/dapr/dapr "$upgrade_from" "./cmd/$program" "" "$ldflags"
  done
  # Its scheduler requires github.com/diagridio/go-etcd-cron v0.12.5, which the Go module proxy
  # refuses ("This module version is not available"); it builds against v0.12.6, the version the
  # pinned release requires.
  build scheduler github.com/dapr/dapr "$upgrade_from" ./cmd/scheduler "" "$ldflags" \
    github.com/diagridio/go-etcd-cron=github.com/diagridio/go-etcd-cron@v0.12.6
)

# The node's runtime and image builder, from the OS's packages. kubelet 1.36 still runs Debian's
# containerd 1.6 over CRI v1, taking its own cgroupDriver where containerd 1.x lacks the
# RuntimeConfig call; that fallback's removal moved to 1.37 (kubernetes/kubernetes#136846). See
# test/kubernetes/node.test.ts for what else the node needs.
node_packages=()
command -v containerd >/dev/null || node_packages+=(containerd)
command -v runc >/dev/null || node_packages+=(runc)
[ -x /usr/lib/cni/bridge ] || node_packages+=(containernetworking-plugins)
command -v iptables >/dev/null || node_packages+=(iptables)
command -v ipset >/dev/null || node_packages+=(ipset)
command -v conntrack >/dev/null || node_packages+=(conntrack)
command -v buildah >/dev/null || node_packages+=(buildah)
# A static busybox is the images' /bin/sh and sleep (order-store's preStop hook runs `sleep`).
[ -x /bin/busybox ] || node_packages+=(busybox-static)
command -v gcc >/dev/null || node_packages+=(gcc libc6-dev)
if [ ${#node_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${node_packages[*]}"
    # containerd's package starts no daemon here: there is no systemd to start it, and the tests
    # start their own, with their own configuration and socket.
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${node_packages[@]}" >/dev/null
  else
    log "please install: ${node_packages[*]} (e.g. sudo apt-get install ${node_packages[*]})"
    exit 1
  fi
fi
# The Pod sandbox's pause program, from the C source in the same k8s.io/kubernetes module
# (build/pause/linux/pause.c), linked statically: the node's only image that needs no Go build.
if ! up_to_date pause "$kube_version"; then
  pause_source=$(module_dir k8s.io/kubernetes "$kube_version")/build/pause/linux/pause.c
  timed pause gcc -Os -static -DVERSION="v$kube_version" -o "$bin/pause.tmp" "$pause_source"
  install_built pause "$kube_version"
fi
log "etcd $etcd_version, Kubernetes $kube_version, CoreDNS $coredns_version, helm $helm_version, kube-router $kube_router_version, Dapr control plane $dapr_version (and Dapr $upgrade_from, to upgrade from) ready in $bin"
