#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, then runs every test:
# unit tests, the integration suite (real daemon, real SQLite, real HTTP on loopback)
# and doc tests. Works on a fresh Debian 12 / Raspberry Pi OS machine with a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential pkg-config ca-certificates)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo test --all-targets --locked
cargo test --doc --locked
