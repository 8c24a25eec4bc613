#!/usr/bin/env bash
# Installs what the container tests (tests/containers, `make test-containers`) need on a Debian machine, as root:
# podman with the runc runtime, netavark and aardvark-dns (container networking with name resolution, as with
# Docker), iptables (netavark sets up container networks with it; Debian has it only as a recommendation, which
# apt_install.sh does not install), debootstrap (to make the stand-in base images) and docker-compose.
# Skips what is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
packages=(podman runc netavark aardvark-dns iptables debootstrap docker-compose)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] || scripts/apt_install.sh "${missing[@]}"
