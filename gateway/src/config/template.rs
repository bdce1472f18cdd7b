//! The commented `menwei.toml` that `menwei init` writes.

use super::{
    audit, backup, cluster, https, inspections, log, metrics, policy_table, reports, retention,
    targets,
};

/// The commented configuration `menwei init` writes.
pub fn template(node_name: &str, listen: &str, database_url: &str, https_listen: &str) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        r#"# Menwei gateway configuration. Relative paths are relative to this file's directory.
# Users, targets, grants and sessions live in the database, not here.

# This node's name, written into sessions and audit entries.
node_name = {node}

[ssh]
# Where engineers connect: ssh -p PORT engineer:target@HOST
listen = {listen}
# The gateway's SSH host key (OpenSSH format).
host_key = "ssh_host_ed25519_key"
# Failed logins allowed per user and per source address within auth_failure_window.
max_auth_failures = 5
auth_failure_window = "5m"
# Limits that keep the door open under a flood: connections held at once, from one
# source address, the time a connection has to log in, and session channels open at
# once on one connection (OpenSSH ControlMaster). Over a limit, the connection is
# closed at accept (or the channel refused).
max_connections = 1000
max_connections_per_address = 50
login_grace = "30s"
max_channels_per_connection = 10
# Load balancers in TCP mode (HAProxy's send-proxy-v2) whose connections start with a
# PROXY protocol header naming the engineer's address: the limits, throttles and audit
# then see the engineer, not the balancer. Required from these addresses, never read
# from any other; empty: none is read.
proxy_protocol_from = []

[database]
# sqlite://FILE (created if missing) or postgres://USER:PASSWORD@HOST/DB for several nodes.
url = {url}

[recordings]
# Session recordings (<session id>.mwrec); flushed to disk at least every flush_interval.
dir = "recordings"
flush_interval = "1s"
# The largest one session's recording may grow (10GiB, 500MiB, 2GB): the session then ends
# with a line saying why, its recording sealed.
max_session_bytes = "10GiB"
# Free space the recordings disk keeps, a size or a share of the disk ("5%"): below it no
# new session starts and live ones are warned once; a session whose next byte finds no
# room on the disk ends, its recording sealed and nothing unrecorded sent to the target.
min_free = "1GiB"
# Recordings in S3-compatible object storage (MinIO, Ceph RGW, a cloud bucket), for several
# nodes: dir above becomes the spool live sessions write to; each sealed recording is
# uploaded, read back and compared (size, SHA-256), then removed from the spool. The keys
# never go here: credentials_file holds `aws_access_key_id = …` and
# `aws_secret_access_key = …` lines, or else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
# in the environment. Unset: recordings stay in dir.
# store = "s3://menwei-recordings/PREFIX"
# endpoint = "https://s3.example:9000"
# region = "us-east-1"
# credentials_file = "s3.credentials"

[keys]
# The key the gateway logs in to targets with; `menwei client-key` prints its public half.
client_key = "client_ed25519_key"
# Seals target passwords in the database. Losing it loses the passwords.
vault_key = "vault.key"
# Seals recordings (Ed25519); only `menwei serve` reads it.
recording_signing_key = "recording_signing_key"
# Its public half, which `menwei recording verify` checks recordings against (give an
# auditor this file, never the signing key).
recording_public_key = "recording_signing_key.pub"

# Webhooks: each event (request, decision, break_glass, revocation, expiry, login_alert,
# transfer, backup_failed) is POSTed as
# JSON signed with HMAC-SHA256 under the key in secret_file (X-Menwei-Signature), retried
# with backoff; undeliverable ones stay on `menwei notify list --failed`.
# [[webhooks]]
# url = "https://hooks.example/menwei"
# secret_file = "webhook.secret"
# events = ["request", "decision", "break_glass", "revocation", "expiry", "login_alert", "transfer", "backup_failed", "recordings_store"]

{https}
{audit}
{reports}
{targets}
{log}
{metrics}
{cluster}
{backup}
{retention}
{inspections}
{policy}"#,
        node = q(node_name),
        listen = q(listen),
        url = q(database_url),
        https = https::template(https_listen),
        audit = audit::TEMPLATE,
        reports = reports::TEMPLATE,
        targets = targets::TEMPLATE,
        log = log::TEMPLATE,
        metrics = metrics::TEMPLATE,
        cluster = cluster::TEMPLATE,
        backup = backup::TEMPLATE,
        retention = retention::TEMPLATE,
        inspections = inspections::TEMPLATE,
        policy = policy_table::TEMPLATE,
    )
}
