#!/bin/sh
# One-shot: the configuration and keys every node shares, made once into the `shared`
# volume (both gateways mount it read-only). What must be the same on every node:
#   ssh_host_ed25519_key   engineers pin one host key, whichever node HAProxy picks
#   https_cert.pem/_key    browsers pin one certificate
#   vault.key              seals target passwords and recordings' data keys
#   recording_signing_key  signs every recording (verify uses the .pub)
#   web_session.key        a web login made on one node is valid on the other
#   client_ed25519_key     the key targets trust
# What differs: the node's name (each container's host name, so node_name is left out of
# the file) and its spool (/spool, a volume of its own: the recordings it is writing).
set -eu
if [ -f /data/menwei.toml ]; then
    echo "init: /data/menwei.toml exists; nothing to do"
    exit 0
fi
menwei init --data-dir /data --ssh-listen 0.0.0.0:2222 --https-listen 0.0.0.0:8443 \
    --database-url "$MENWEI_DATABASE_URL" --node-name init
sed -i \
    -e '/^node_name = /d' \
    -e 's|^dir = "recordings"|dir = "/spool"|' \
    -e "s|^origin = .*|origin = \"$MENWEI_ORIGIN\"|" \
    -e "s|^proxy_protocol_from = \[\]|proxy_protocol_from = [\"$MENWEI_BALANCER\"]|" \
    /data/menwei.toml
# Sealed recordings go to the S3-compatible store; credentials come from the environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from this file.
sed -i "s|^\[recordings\]\$|[recordings]\nstore = \"$MENWEI_STORE\"\nendpoint = \"$MENWEI_STORE_ENDPOINT\"\nregion = \"us-east-1\"|" \
    /data/menwei.toml
rmdir /data/recordings 2>/dev/null || true
echo "init: shared configuration and keys written to /data"
