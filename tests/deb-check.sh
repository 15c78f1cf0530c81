#!/usr/bin/env bash
# Installs the amd64 .deb into a fresh Debian bookworm rootfs (mmdebstrap, no systemd
# running) and checks what the package promises: the binary, the enabled unit, the roundwared
# user in audio and dialout, /var/lib/roundwared owned by it, the conffile; then upgrades to a
# new revision and checks that a changed config and the database survive. Run by hand (root,
# cargo-deb, mmdebstrap, a Debian mirror; about 2 minutes); CI does not install cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/roundwared-target}"
command -v cargo-deb >/dev/null || { echo "deb check: skipped: cargo-deb not installed (cargo install cargo-deb --locked)"; exit 0; }
command -v mmdebstrap >/dev/null || { echo "deb check: skipped: mmdebstrap not installed"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "deb check: skipped: needs root"; exit 0; }
work=$(mktemp -d /var/tmp/deb-check.XXXX)
trap 'rm -rf "$work"' EXIT
cargo build --locked --release --bin roundwared
cargo deb --no-build --deb-revision 1 -o "$work/r1.deb" >/dev/null
cargo deb --no-build --deb-revision 2 -o "$work/r2.deb" >/dev/null
root="$work/rootfs"
mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$root" >/dev/null 2>&1
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
# The installed binary creates its database in /var/lib/roundwared.
chroot "$root" /usr/bin/roundwared user add --username curator --password long-enough-1 >/dev/null
sed -i 's/^# level = "info"/level = "debug"/' "$root/etc/roundwared/roundwared.toml"
chroot "$root" dpkg -i --force-confold /tmp/r2.deb >/dev/null
grep -q '^level = "debug"' "$root/etc/roundwared/roundwared.toml" || fail "upgrade lost the changed config"
[ -s "$root/var/lib/roundwared/roundwared.sqlite3" ] || fail "upgrade lost the database"
chroot "$root" /usr/bin/roundwared user add --username curator --password long-enough-2 | grep -q "updated\|password" \
    || fail "the database after the upgrade does not know the user"
chroot "$root" dpkg -s roundwared | grep -q 'Version: 0.1.0-2' || fail "upgrade"
echo "deb check: ok (install: binary, enabled unit, user in audio+dialout, /var/lib/roundwared, conffile, verify clean; upgrade kept config and database)"
