#!/usr/bin/env bash
# Installs the Debian packages roundwared needs. `runtime`: to build and run the daemon;
# `test` (default): also what the test suite needs. Uses sudo when not root; skips apt
# entirely when everything is already installed.
set -euo pipefail
kind="${1:-test}"

# `runtime` needs only the build tools; `test` adds ffmpeg (it makes the M4A, Ogg Vorbis and
# FLAC files the upload tests send, and ffprobe checks the MP3 renditions) and gpsd with
# gpsd-clients (gpsfake replays a generated NMEA walk through a real gpsd).
packages=(build-essential pkg-config ca-certificates)
if [ "$kind" = "test" ]; then
    packages+=(ffmpeg gpsd gpsd-clients)
fi
echo "checking packages for: $kind"

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
