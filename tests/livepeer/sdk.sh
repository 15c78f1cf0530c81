#!/usr/bin/env bash
# Drives the broadcast channels of a throw-away roundwared with the real Livepeer Python SDK
# (`livepeer==0.3.0`, in its own virtualenv): every stream operation the box offers, with the
# status codes and shapes the SDK's models demand, a push from ffmpeg seen live through the
# SDK, and a pull from a loopback HTTP server. Fails on any SDK error or pydantic
# ValidationError (a broken response contract).
#
#   bash tests/livepeer/sdk.sh
#
# Environment: LIVEPEER_VENV (the virtualenv, reused when present; default
# ~/.cache/roundwared-livepeer/venv-0.3.0), KEEP=1 keeps the temporary directory.
# Needs python3 with venv, ffmpeg, and PyPI access the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK_VERSION=0.3.0
VENV=${LIVEPEER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/roundwared-livepeer/venv-$SDK_VERSION}
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('livepeer') == '$SDK_VERSION'" 2>/dev/null; then
    echo "livepeer sdk: installing livepeer==$SDK_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "livepeer==$SDK_VERSION"
fi
PY=$VENV/bin/python

cargo build --locked --quiet --bin roundwared
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/roundwared
WORK=$(mktemp -d "${TMPDIR:-/tmp}/roundwared-livepeer.XXXXXX")
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/roundwared.toml" <<TOML
[http]
listen = "127.0.0.1:$PORT"
[storage]
data_dir = "$WORK/data"
[local]
enabled = false
[log]
level = "info"
TOML
DAEMON=
cleanup() {
    if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
        kill "$DAEMON" && wait "$DAEMON" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "livepeer sdk: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
"$BIN" serve --config "$WORK/roundwared.toml" > "$WORK/daemon.log" 2>&1 &
DAEMON=$!
PASSWORD=sdk-$RANDOM-$RANDOM-pw
for _ in $(seq 300); do
    "$BIN" user add --username sdk-admin --password "$PASSWORD" --staff --config "$WORK/roundwared.toml" > /dev/null 2>&1 && break
    sleep 0.1
done
ffmpeg -hide_banner -loglevel error -f lavfi -i "sine=frequency=660:duration=30:sample_rate=44100" \
    -c:a libmp3lame -b:a 96k -f mp3 "$WORK/radio.mp3"
if ! "$PY" tests/livepeer/sdk_test.py "http://127.0.0.1:$PORT" "$PASSWORD" "$WORK/radio.mp3"; then
    echo "livepeer sdk: FAILED; the daemon's log:"; tail -40 "$WORK/daemon.log"; exit 1
fi
if grep -E 'panicked|ERROR' "$WORK/daemon.log"; then
    echo "livepeer sdk: the daemon logged a panic or an error"; exit 1
fi
echo "livepeer sdk: passed"
