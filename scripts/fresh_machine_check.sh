#!/usr/bin/env bash
# Runs a command (default: `bash .ci/run`) on a clean clone of this checkout's HEAD in a new Debian bookworm root
# that has only what a new machine of this project has: Python 3.11 with pip, venv and headers, gcc, make, git,
# curl, and the machine's package-index and CA settings. It shows what works only because of a machine's history
# (a package installed by hand, a command left by an earlier setup, an image in a build cache).
# The root is entered as a container is, not with chroot: in a mount and PID namespace of its own, with
# pivot_root, so that podman inside it (the container tests) sees a real root and every mount ends with it.
# As root; about 1 min to make the root. The network is the host's (the package mirrors).
# Usage: scripts/fresh_machine_check.sh [COMMAND...]      (KEEP=1 keeps the root for a look afterwards)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$(cd "$repo/../shared" && pwd)"
root=$(mktemp -d /var/tmp/faceblur-fresh.XXXXXX)
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
command=("$@")
[ ${#command[@]} -gt 0 ] || command=(bash .ci/run)

cleanup() {
    [ -n "${KEEP:-}" ] && { echo "kept $root" >&2; return; }
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

command -v debootstrap >/dev/null || "$repo/scripts/apt_install.sh" debootstrap
echo "debootstrap bookworm into $root" >&2
debootstrap --variant=minbase \
    --include=python3,python3-pip,python3-venv,python3-dev,gcc,make,git,curl,ca-certificates,procps \
    bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp /etc/apt/sources.list.d/* "$root/etc/apt/sources.list.d/" 2>/dev/null || true
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's own settings, as a new machine has them: its CA certificates (HTTPS goes through an inspecting
# proxy) and pip's local package mirrors (/opt) and caps.
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root" update-ca-certificates >/dev/null 2>&1
for file in /etc/pip.conf /etc/xdg/pip /root/.config/pip; do
    [ -e "$file" ] || continue
    mkdir -p "$root$(dirname "$file")"
    cp -r "$file" "$root$file"
done
mkdir -p "$root/opt" "$root/work/shared" "$root/.old-root"
git clone --quiet "$repo" "$root/work/main"

# Inside new mount and PID namespaces: mounts made there vanish with them, and so do the processes left running.
enter='
set -euo pipefail
mount --bind "$ROOT" "$ROOT"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --bind /opt "$ROOT/opt" && mount -o remount,bind,ro "$ROOT/opt"
mount --bind "$SHARED" "$ROOT/work/shared" && mount -o remount,bind,ro "$ROOT/work/shared"
mount -t tmpfs tmpfs "$ROOT/run"
mount -t tmpfs tmpfs "$ROOT/tmp"
cd "$ROOT"
pivot_root . .old-root
mount -t proc proc /proc
umount -l /.old-root
shift 2
exec /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 CI=true PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_FIND_LINKS=/opt/wheels \
    PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /bin/bash -c "cd /work/main && \"\$@\"" bash "$@"
'
echo "running ${command[*]} in a clean clone of $(git -C "$repo" rev-parse --short HEAD)" >&2
start=$SECONDS
status=0
ROOT="$root" SHARED="$shared" unshare --mount --pid --fork --propagation private \
    /bin/bash -c "$enter" enter "$root" "$shared" "${command[@]}" || status=$?
echo "exit $status after $((SECONDS - start)) s" >&2
[ -d "$root/work/main/.venv" ] && echo "virtualenv: $(du -sh "$root/work/main/.venv" | cut -f1)" >&2
exit $status
