#!/usr/bin/env bash
# Installs the Debian packages roundwared needs. `runtime`: to build and run the daemon;
# `test` (default): also what the test suite needs. Uses sudo when not root; skips apt
# entirely when everything is already installed.
set -euo pipefail
kind="${1:-test}"

# `runtime` needs the build tools and the ALSA headers (the default `soundcard` feature links
# libasound through cpal); `test` adds ffmpeg (it makes the M4A, Ogg Vorbis and FLAC files the
# upload tests send; ffprobe/ffmpeg check renditions and streams), systemd (systemd-analyze
# lints the unit), alsa-utils (the sound-card tests' ALSA configs; amixer reads the mixer
# element the volume test moves), pulseaudio with pulseaudio-utils and libasound2-plugins (a
# PulseAudio null sink behind ALSA's pulse plugins: a real mixer element for that test, recorded
# with parec) and
# gpsd with gpsd-clients (gpsfake for the GPS tests), chromium (the browser tests of the
# web pages drive Debian's headless Chromium; node and npm come along when node is missing),
# python3-venv (tests/fuzz/schemathesis.sh installs schemathesis into a virtualenv, and
# tests/livepeer/sdk.sh the Livepeer SDK), and icecast2 (the broadcast tests push a channel on
# to a real Icecast started on a free port).
packages=(build-essential pkg-config ca-certificates libasound2-dev)
if [ "$kind" = "test" ]; then
    packages+=(ffmpeg systemd alsa-utils pulseaudio pulseaudio-utils libasound2-plugins gpsd gpsd-clients chromium python3-venv icecast2)
    command -v node >/dev/null || packages+=(nodejs npm)
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
