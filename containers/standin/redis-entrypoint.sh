#!/bin/sh
# The official redis image's entrypoint, in short: options alone mean redis-server; as root, own /data and
# drop to the redis user; protected mode off (the official image compiles it off).
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
    set -- "$@" --protected-mode no
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
