#!/usr/bin/env bash
# Installs Debian packages with apt-get (as root), refreshing the package lists only when a first try fails.
# Usage: scripts/apt_install.sh PACKAGE...   All output goes to stderr.
set -euo pipefail
exec >&2
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "cannot install $* here (needs root and apt-get); please install it yourself"
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing $* with apt-get"
apt-get install -y -q --no-install-recommends "$@" || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
