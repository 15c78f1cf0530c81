#!/usr/bin/env bash
# Runs the browser tests: the web pages in Debian's headless Chromium against the daemon
# binary `cargo test` / `cargo build` left in $CARGO_TARGET_DIR/debug (default target/debug).
# Installs playwright-core with `npm ci` when node_modules is missing or older than the lock.
# Screenshots go to $SCREENSHOT_DIR (default: a temp dir); UPDATE_SCREENSHOTS=1 also rewrites
# the committed tests/screenshots/*.png.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export ROUNDWARED_BIN="${ROUNDWARED_BIN:-$target/debug/roundwared}"
if [ ! -x "$ROUNDWARED_BIN" ]; then
    echo "building the daemon ($ROUNDWARED_BIN is missing)"
    (cd "$repo" && cargo build --locked)
fi
command -v node >/dev/null || { echo "node is missing: bash tests/install-deps.sh test" >&2; exit 1; }
# playwright-core needs Node 20 or newer; Debian 12's nodejs is 18: then take Node 20 from the
# npm registry (the `node` package), once, into tests/browser/.node.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    if [ ! -x "$here/.node/node_modules/.bin/node" ]; then
        echo "node $(node -v) is too old for playwright-core: installing Node 20 from the npm registry"
        npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$here/.node" node@20
    fi
    export PATH="$here/.node/node_modules/.bin:$PATH"
    echo "using node $(node -v)"
fi
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium is missing: bash tests/install-deps.sh test" >&2; exit 1; }
cd "$here"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
shopt -s nullglob
tests=(./*.test.mjs)
((${#tests[@]})) || { echo "no browser tests found" >&2; exit 1; }
# One file at a time: each starts its own daemon and browser; the machine has 2 cores.
exec node --test --test-concurrency=1 "${tests[@]}"
