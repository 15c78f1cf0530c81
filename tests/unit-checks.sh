#!/usr/bin/env bash
# Lints the systemd units offline: `systemd-analyze verify` must print nothing (it exits 0 on
# unknown keys, so any output fails) and `systemd-analyze security --offline=yes` must score
# each at most 2.5 (threshold 25 on its 0-100 scale). ExecStart is pointed at /bin/true in a temp
# copy, since the binary is not installed on the build machine. roundwared.service is verified
# with the drop-in `roundwared fleet init` installs (systemd/roundwared.service.d-fleet.conf) in
# place, so a broken line there fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null; then
    echo "unit checks skipped: systemd-analyze not installed (apt-get install systemd)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# check UNIT EXEC: the unit with its ExecStart binary pointed at /bin/true.
check() {
    local unit=$1 exec=$2
    sed "s#^ExecStart=$exec#ExecStart=/bin/true#" "systemd/$unit" >"$tmp/$unit"
    out=$(systemd-analyze verify --man=no "$tmp/$unit" 2>&1) || { echo "$out"; echo "$unit verify: FAILED"; exit 1; }
    if [ -n "$out" ]; then
        echo "$out"
        echo "$unit verify: FAILED (systemd-analyze printed warnings)"
        exit 1
    fi
    score=$(systemd-analyze security --offline=yes "$tmp/$unit" 2>&1 | sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
    if ! systemd-analyze security --offline=yes --threshold=25 "$tmp/$unit" >/dev/null 2>&1; then
        echo "$unit security: FAILED, exposure $score > 2.5"
        exit 1
    fi
    echo "unit checks: $unit verify clean, security exposure $score (limit 2.5)"
}
mkdir "$tmp/roundwared.service.d"
cp systemd/roundwared.service.d-fleet.conf "$tmp/roundwared.service.d/fleet.conf"
check roundwared-nats.service /usr/lib/roundwared/nats-server
check roundwared.service /usr/bin/roundwared
echo "unit checks: roundwared.service verified with its fleet drop-in (roundwared.service.d/fleet.conf)"
