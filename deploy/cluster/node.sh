#!/bin/sh
# Each gateway node: the shared configuration and keys (the read-only `shared` volume at
# /data) copied into /tmp/menwei, with this node's own address added as `[cluster]
# https_address` (the other nodes relay a live watch from it: [https] listen is 0.0.0.0).
# Key files keep their owner and mode (cp -p); /tmp is a tmpfs, so they never reach a disk.
set -eu
mkdir -p /tmp/menwei
for f in /data/*; do
    [ -f "$f" ] && cp -p "$f" /tmp/menwei/
done
ip=$(hostname -i | cut -d' ' -f1)
sed -i "s|^\[cluster\]\$|[cluster]\nhttps_address = \"$ip:8443\"|" /tmp/menwei/menwei.toml
exec menwei serve --config /tmp/menwei/menwei.toml
