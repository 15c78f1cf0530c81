#!/usr/bin/env bash
# aarch64 (Raspberry Pi 64-bit) cross-build and smoke test under qemu-user, Docker-free: builds
# roundwared for aarch64-unknown-linux-gnu exactly as the README's Pi build does (with the sound
# card; .cargo/config.toml holds the cross settings, the arm64 ALSA library comes from Debian's
# multiarch packages, installed here), starts it under qemu-aarch64-static with --demo (which
# synthesizes the demo sounds and encodes their MP3s with the aarch64 LAME build) and the local
# listener playing through the arm64 ALSA library into a `file` PCM, then checks /healthz, the
# demo assets over the API and an MP3 served from /rwmedia/, a few seconds of a personal stream
# (mixed and LAME-encoded by the aarch64 engine), and that the sound card's file sink received
# sound. Prints "aarch64 smoke: skipped: <reason>" and exits 0 when the Rust target or the
# cross tools cannot be installed here; fails only when the build or the binary misbehaves.
#   PROFILE=release bash tests/aarch64-smoke.sh    (default: dev, much faster to build)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/roundwared-target}"
target=aarch64-unknown-linux-gnu
profile="${PROFILE:-dev}"
skip() { echo "aarch64 smoke: skipped: $*"; exit 0; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustup target add "$target" >/dev/null 2>&1 || skip "the Rust target $target is not installed and rustup cannot download it here"
fi
need=()
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static curl file python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# The arm64 ALSA library and headers, through multiarch.
if ! dpkg-query -W -f='${Status}' libasound2-dev:arm64 2>/dev/null | grep -q "install ok installed"; then
    dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64 \
        || skip "cannot add the arm64 architecture to dpkg"
    need+=(libasound2-dev:arm64)
fi
if ((${#need[@]})); then
    echo "aarch64 smoke: installing ${need[*]}"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 \
        || skip "cannot install ${need[*]} with apt-get"
fi

echo "aarch64 smoke: cargo build --profile $profile --target $target (with the sound card)"
cargo build --locked --profile "$profile" --target "$target" --bin roundwared
dir=debug; [ "$profile" = dev ] || dir="$profile"
bin="$CARGO_TARGET_DIR/$target/$dir/roundwared"
file "$bin" 2>/dev/null | grep -q "ARM aarch64" || { echo "aarch64 smoke: $bin is not an aarch64 executable"; exit 1; }
echo "aarch64 smoke: $(du -h "$bin" | cut -f1) $bin"

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/c.toml" <<EOT
[http]
listen = "127.0.0.1:$port"
[storage]
data_dir = "$work/data"
[local]
enabled = true
output = "smokecard"
[position]
source = "fixed"
fixed = [42.3551, -71.0656]
EOT
# The sound card: an ALSA `file` PCM (in the daemon's own ~/.asoundrc) writing what the card
# would play to a raw file, through the arm64 alsa-lib the binary links.
cat >"$work/.asoundrc" <<EOT
pcm.smokecard {
  type plug
  slave { pcm "smokefile"; format S16_LE; rate 44100; channels 2 }
}
pcm.smokefile {
  type file
  slave.pcm "null"
  file "$work/card.raw"
  format "raw"
}
EOT
# qemu finds the arm64 loader and libraries multiarch installed (no -L prefix: mixing the cross
# libc under /usr/aarch64-linux-gnu with multiarch libraries hangs the binary).
HOME="$work" qemu-aarch64-static "$bin" serve --demo --config "$work/c.toml" 2>"$work/log" &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
    curl -fsS "$base/healthz" >"$work/health" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "aarch64 smoke: FAILED, the daemon exited"; exit 1; }
    sleep 0.1
done
grep -q '"status":"ok"' "$work/health" || { cat "$work/health" "$work/log"; echo "aarch64 smoke: FAILED, /healthz"; exit 1; }
token=$(curl -fsS -X POST "$base/api/2/users/" -H 'Content-Type: application/json' \
    -d '{"device_id":"aarch64-smoke","client_type":"web"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
assets=$(curl -fsS "$base/api/2/assets/" -H "Authorization: token $token")
count=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$assets")
[ "$count" -ge 6 ] || { echo "$assets"; echo "aarch64 smoke: FAILED, $count demo assets"; exit 1; }
mp3=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); print(a[0]["file"].rsplit(".",1)[0]+".mp3")' "$assets")
ctype=$(curl -fsS -o "$work/a.mp3" -w '%{content_type}' "$mp3")
size=$(stat -c %s "$work/a.mp3")
[ "$ctype" = audio/mpeg ] && [ "$size" -gt 10000 ] || { echo "aarch64 smoke: FAILED, $mp3 gave $ctype, $size bytes"; exit 1; }
session=$(curl -fsS -X POST "$base/api/2/sessions/" -H "Authorization: token $token" -H 'Content-Type: application/json' \
    -d '{"project_id":1}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
stream=$(curl -fsS -X POST "$base/api/2/streams/" -H "Authorization: token $token" -H 'Content-Type: application/json' \
    -d "{\"session_id\":$session}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_url"])')
curl -s --max-time 4 -o "$work/s.mp3" "$stream" || true  # ends by timeout: it is a live stream
ssize=$(stat -c %s "$work/s.mp3" 2>/dev/null || echo 0)
python3 -c 'import sys; b=open(sys.argv[1],"rb").read(2); sys.exit(0 if len(b)==2 and b[0]==0xFF and b[1]&0xE0==0xE0 else 1)' "$work/s.mp3" \
    && [ "$ssize" -gt 32000 ] || { cat "$work/log"; echo "aarch64 smoke: FAILED, stream $stream gave $ssize bytes"; exit 1; }
# The local listener stands at the demo's centre (the fixed point above), inside the drone's
# zone: the card's file
# sink must hold sound, not only silence, from the arm64 ALSA path.
card_bytes=$(stat -c %s "$work/card.raw" 2>/dev/null || echo 0)
card_peak=$(python3 - "$work/card.raw" <<'EOT'
import array, sys
a = array.array("h")
with open(sys.argv[1], "rb") as f:
    data = f.read()
a.frombytes(data[: len(data) // 2 * 2])
print(max((abs(v) for v in a), default=0))
EOT
)
[ "$card_bytes" -gt 44100 ] && [ "$card_peak" -gt 100 ] \
    || { cat "$work/log"; echo "aarch64 smoke: FAILED, the sound card's file sink holds $card_bytes bytes, peak $card_peak"; exit 1; }
kill -TERM "$pid"
wait "$pid" || { cat "$work/log"; echo "aarch64 smoke: FAILED, unclean exit on SIGTERM"; exit 1; }
pid=""
echo "aarch64 smoke: ok (healthz ok, $count demo assets rendered with aarch64 LAME, $mp3 served as $ctype, $size bytes, $ssize bytes of stream $stream in 4 s, sound card $card_bytes bytes with peak $card_peak through arm64 ALSA, clean stop)"
