#!/bin/sh
# First start: `menwei init` into /data (config, keys, database schema). Every start:
# `menwei serve`. Admin commands: docker compose exec menwei menwei user list
set -eu
if [ ! -f /data/menwei.toml ]; then
    set -- --data-dir /data --ssh-listen 0.0.0.0:2222 --https-listen 0.0.0.0:8443 \
        --node-name "${MENWEI_NODE_NAME:-$(hostname)}"
    if [ -n "${MENWEI_DATABASE_URL:-}" ]; then
        set -- "$@" --database-url "$MENWEI_DATABASE_URL"
    fi
    menwei init "$@"
fi
exec menwei serve --config /data/menwei.toml
