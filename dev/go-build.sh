# Sourced by dev/dapr-binaries.sh and proving-ground/bootstrap-kube.sh: builds a Go command from its
# module at an exact version into "$bin", once, with a version stamp beside it. The caller sets
# `bin` and `log` (a function) before calling build.

export GOFLAGS=-buildvcs=false
# Some modules name a newer patch toolchain in go.mod; the installed Go builds them, and nothing
# is downloaded behind our back.
export GOTOOLCHAIN=local

command -v go >/dev/null || { log "Go is needed to build from Go modules: install it from https://go.dev/dl"; exit 1; }

# Stops, before anything is built, when the installed Go is older than a module's go.mod asks:
# with GOTOOLCHAIN=local that build would fail only after its downloads. `go list -m` fetches the
# module's go.mod alone.
require_go_for() { # module, version
  local have wanted
  have=$(go env GOVERSION)
  wanted=$(go list -m -json "$1@v$2" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const wanted = JSON.parse(s).GoVersion ?? "0";
      const parts = (v) => v.replace(/^go/, "").split(".").map(Number);
      const [h, w] = [parts(process.argv[1]), parts(wanted)];
      const i = [0, 1, 2].find((k) => (h[k] || 0) !== (w[k] || 0));
      console.log(wanted);
      process.exit(i !== undefined && (h[i] || 0) < (w[i] || 0) ? 1 : 0);
    });' "$have") || { log "$1 $2 needs Go $wanted or later, this machine has $have: https://go.dev/dl"; exit 1; }
}

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
  log "building $name $version (first run only)"
  dir=$(module_dir "$module" "$version")
  if [ -n "$replace" ]; then
    local copy
    copy=$(mktemp -d)
    cp -r "$dir/." "$copy" && chmod -R u+w "$copy"
    (cd "$copy" && go mod edit -replace "$replace")
    dir=$copy
  fi
  timed "$name" bash -c 'cd "$1" && GOFLAGS="$GOFLAGS -mod=mod" go build -tags "$2" -trimpath -ldflags "-s -w $3" -o "$4" "$5"' \
    _ "$dir" "$tags" "$ldflags" "$bin/$name.tmp" "$pkg"
  [ -n "$replace" ] && rm -rf "$dir"
  install_built "$name" "$version"
}

# Moves a finished build into place and stamps it, so an interrupted build is never taken for one.
install_built() { # binary, version
  mv "$bin/$1.tmp" "$bin/$1"
  echo "$2" >"$bin/.$1.version"
}

# Runs a build step and logs its wall-clock and CPU time: the cold build's cost is a number the
# README and CI's 90-minute budget depend on. CPU time comes from `times` (this shell's children),
# which must run in this shell itself: in a command substitution it would count a new subshell's.
timed() { # label, command...
  local label=$1 start=$SECONDS record
  shift
  record=$(mktemp)
  times >"$record"
  "$@" || { rm -f "$record"; return 1; }
  times >>"$record"
  # Lines 2 and 4: the children's user and system time before and after, as 1m2.345s 0m6.789s.
  log "$label built in $((SECONDS - start)) s wall, $(awk 'NR == 2 || NR == 4 {
      s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } cpu[NR] = s
    } END { printf "%d", cpu[4] - cpu[2] }' "$record") CPU-s"
  rm -f "$record"
}
