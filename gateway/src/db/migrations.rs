//! The database schema, as one ordered list of migrations that runs unchanged on SQLite and
//! PostgreSQL: portable types only (TEXT, BIGINT), no auto-increment (the gateway makes its
//! own ids), instants as BIGINT unix milliseconds. Applied versions are kept in
//! `schema_migrations`. Add a migration by appending; never edit one that has shipped.

/// One schema change.
pub struct Migration {
    /// Increasing version number, stored in `schema_migrations`.
    pub version: i64,
    /// What it does, for error messages.
    pub name: &'static str,
    /// Statements, run in order inside one transaction.
    pub statements: &'static [&'static str],
}

/// Creates the bookkeeping table; safe to run every time.
pub const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)";

/// All migrations, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
    MIGRATION_9,
    MIGRATION_10,
];

const MIGRATION_1: Migration = Migration {
    version: 1,
    name: "users, keys, targets, grants, sessions, audit log",
    statements: &[
        // One row per account, one role per account: separation of duties (an account
        // never holds two of admin, approver, auditor) is the shape of the table itself.
        "CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('engineer', 'approver', 'auditor', 'admin')),
            created_at BIGINT NOT NULL,
            disabled BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
        )",
        "CREATE TABLE user_keys (
            user_name TEXT NOT NULL REFERENCES users (name),
            public_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (user_name, fingerprint)
        )",
        "CREATE TABLE targets (
            name TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            login TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            host_key TEXT,
            host_key_fingerprint TEXT,
            password_enc TEXT,
            created_at BIGINT NOT NULL
        )",
        // Nobody grants to themselves; a grant always ends after it starts.
        "CREATE TABLE grants (
            id TEXT PRIMARY KEY,
            engineer TEXT NOT NULL REFERENCES users (name),
            target TEXT NOT NULL REFERENCES targets (name),
            starts_at BIGINT NOT NULL,
            ends_at BIGINT NOT NULL,
            revoked_at BIGINT,
            revoked_by TEXT,
            reason TEXT NOT NULL,
            granted_by TEXT NOT NULL REFERENCES users (name),
            created_at BIGINT NOT NULL,
            CHECK (ends_at > starts_at),
            CHECK (engineer <> granted_by)
        )",
        "CREATE INDEX grants_by_engineer ON grants (engineer, ends_at)",
        "CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            engineer TEXT NOT NULL,
            target TEXT NOT NULL,
            grant_id TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            ended_at BIGINT,
            end_reason TEXT,
            recording TEXT,
            node TEXT NOT NULL,
            client_addr TEXT
        )",
        "CREATE INDEX sessions_by_start ON sessions (started_at)",
        "CREATE INDEX sessions_by_grant ON sessions (grant_id)",
        // Append-only, hash-chained; see crate::audit.
        "CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at BIGINT NOT NULL,
            node TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )",
        "CREATE INDEX audit_log_by_time ON audit_log (at)",
        // The newest entry seen by any writer: deleting entries off the end of the chain
        // must also rewind this row, which verify checks.
        "CREATE TABLE audit_head (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL
        )",
    ],
};

const MIGRATION_2: Migration = Migration {
    version: 2,
    name: "requests, reviews, request grants, TOTP, notifications",
    statements: &[
        // A request for access (docs/approvals.md). Terminal states stay on record.
        "CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            engineer TEXT NOT NULL REFERENCES users (name),
            targets TEXT NOT NULL,
            grp TEXT,
            reason TEXT NOT NULL,
            incident TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('A', 'B', 'C', 'D')),
            duration_ms BIGINT NOT NULL CHECK (duration_ms > 0),
            starts_at BIGINT,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'approved', 'denied', 'withdrawn', 'lapsed')),
            approvals_needed BIGINT NOT NULL CHECK (approvals_needed >= 1),
            filed_at BIGINT NOT NULL,
            decided_at BIGINT,
            lapses_at BIGINT NOT NULL,
            break_glass BIGINT NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1)),
            extends_grant TEXT,
            signed_off_by TEXT REFERENCES users (name),
            signed_off_at BIGINT,
            signoff_comment TEXT
        )",
        "CREATE INDEX requests_by_state ON requests (state, filed_at)",
        "CREATE INDEX requests_by_engineer ON requests (engineer, filed_at)",
        // One review per approver per request: distinct approvers by construction.
        "CREATE TABLE reviews (
            request_id TEXT NOT NULL REFERENCES requests (id),
            approver TEXT NOT NULL REFERENCES users (name),
            verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
            comment TEXT NOT NULL DEFAULT '',
            duration_ms BIGINT,
            at BIGINT NOT NULL,
            PRIMARY KEY (request_id, approver)
        )",
        // grants gains request_id and emergency, and its self-grant check learns one
        // exception: an engineer's own break-glass grant, marked emergency (and kept on the
        // sign-off list). A CHECK cannot be changed in place on SQLite, so the table is
        // rebuilt; no other table references grants.
        "CREATE TABLE grants_v2 (
            id TEXT PRIMARY KEY,
            engineer TEXT NOT NULL REFERENCES users (name),
            target TEXT NOT NULL REFERENCES targets (name),
            starts_at BIGINT NOT NULL,
            ends_at BIGINT NOT NULL,
            revoked_at BIGINT,
            revoked_by TEXT,
            reason TEXT NOT NULL,
            granted_by TEXT NOT NULL REFERENCES users (name),
            created_at BIGINT NOT NULL,
            request_id TEXT REFERENCES requests (id),
            emergency BIGINT NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),
            CHECK (ends_at > starts_at),
            CHECK (engineer <> granted_by OR emergency = 1)
        )",
        "INSERT INTO grants_v2 (id, engineer, target, starts_at, ends_at, revoked_at,
            revoked_by, reason, granted_by, created_at, emergency)
         SELECT id, engineer, target, starts_at, ends_at, revoked_at, revoked_by, reason,
            granted_by, created_at, 0 FROM grants",
        "DROP TABLE grants",
        "ALTER TABLE grants_v2 RENAME TO grants",
        "CREATE INDEX grants_by_engineer ON grants (engineer, ends_at)",
        "CREATE INDEX grants_by_request ON grants (request_id)",
        // Sealed by the vault; never shown again after enrollment.
        "ALTER TABLE users ADD COLUMN totp_secret TEXT",
        "ALTER TABLE users ADD COLUMN totp_enrolled_at BIGINT",
        // Webhook deliveries; undeliverable ones are kept.
        "CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            delivered_at BIGINT,
            last_error TEXT,
            webhook TEXT NOT NULL
        )",
        "CREATE INDEX notifications_due ON notifications (delivered_at, next_attempt_at)",
    ],
};

const MIGRATION_3: Migration = Migration {
    version: 3,
    name: "web passwords, web sessions, API tokens, session stops",
    statements: &[
        // argon2id PHC string; web login only (SSH stays public-key).
        "ALTER TABLE users ADD COLUMN password_hash TEXT",
        "ALTER TABLE users ADD COLUMN password_set_at BIGINT",
        // One row per web login (the JWT's jti): logout and admin revocation end it on
        // every node. The CSRF token is the double-submit value for this login.
        "CREATE TABLE web_sessions (
            jti TEXT PRIMARY KEY,
            user_name TEXT NOT NULL REFERENCES users (name),
            csrf TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT,
            client_addr TEXT
        )",
        "CREATE INDEX web_sessions_by_user ON web_sessions (user_name, expires_at)",
        // Scripts' bearer tokens, stored as SHA-256 of the secret.
        "CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            user_name TEXT NOT NULL REFERENCES users (name),
            token_hash TEXT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            created_by TEXT NOT NULL,
            expires_at BIGINT,
            revoked_at BIGINT,
            last_used_at BIGINT
        )",
        // An approver's "terminate" for a live session on whichever node holds it; the
        // holding node's enforcer ends it.
        "CREATE TABLE session_stops (
            session_id TEXT PRIMARY KEY,
            stopped_by TEXT NOT NULL,
            at BIGINT NOT NULL
        )",
    ],
};

const MIGRATION_4: Migration = Migration {
    version: 4,
    name: "TOTP codes good once across nodes and restarts",
    statements: &[
        // The last 30-second step a code was accepted for: a code of that step or an older
        // one is refused, whichever node it is typed at (one conditional UPDATE decides).
        "ALTER TABLE users ADD COLUMN totp_last_step BIGINT",
    ],
};

const MIGRATION_5: Migration = Migration {
    version: 5,
    name: "cutting an account off",
    statements: &[
        // Why an admin disabled the account, shown to its live sessions as they end.
        "ALTER TABLE users ADD COLUMN disabled_reason TEXT",
        // When the account was last cut off (disabled, a key removed, the password changed,
        // logged out): web logins and sessions begun before it end, on every node.
        "ALTER TABLE users ADD COLUMN cut_off_at BIGINT",
    ],
};

const MIGRATION_6: Migration = Migration {
    version: 6,
    name: "removing an account, keeping its history",
    statements: &[
        // When an admin removed the account: it stays disabled for good, its row stays so
        // that every request, session and audit entry naming it still means this person,
        // and the name is never given to a new account.
        "ALTER TABLE users ADD COLUMN removed_at BIGINT",
    ],
};

const MIGRATION_7: Migration = Migration {
    version: 7,
    name: "node membership",
    statements: &[
        // One row per node that ever served: its heartbeat says it is alive; a node silent
        // past `[cluster] dead_after` is marked lost (once, by whichever node sees it first)
        // and its sessions end `node_lost`. A clean stop sets stopped_at instead.
        "CREATE TABLE nodes (
            name TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            version TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL,
            live_sessions BIGINT NOT NULL DEFAULT 0,
            stopped_at BIGINT,
            lost_at BIGINT
        )",
    ],
};

// Inspections (巡檢), from the wt-insp branch: when merged beside another migration 9, the
// lead renumbers this one; nothing else refers to its number.
const MIGRATION_10: Migration = Migration {
    version: 10,
    name: "inspection runbook approvals, runs and their grants",
    statements: &[
        // One approval per approver per runbook version (a hash of its targets, commands and
        // thresholds): distinct approvers by construction, and a changed runbook has none.
        "CREATE TABLE inspection_approvals (
            runbook TEXT NOT NULL,
            version TEXT NOT NULL,
            approver TEXT NOT NULL REFERENCES users (name),
            comment TEXT NOT NULL DEFAULT '',
            at BIGINT NOT NULL,
            PRIMARY KEY (runbook, version, approver)
        )",
        // One row per run. `slot` is the scheduled instant (or `asked:<id>` for a run asked
        // for): its uniqueness is the claim, so a slot runs once across a cluster. `state`
        // queued (asked, waiting for serve), running, done, refused or failed; `findings` the
        // JSON the report is made from.
        "CREATE TABLE inspection_runs (
            id TEXT PRIMARY KEY,
            runbook TEXT NOT NULL,
            version TEXT NOT NULL,
            slot TEXT NOT NULL,
            asked_by TEXT,
            state TEXT NOT NULL
                CHECK (state IN ('queued', 'running', 'done', 'refused', 'failed')),
            created_at BIGINT NOT NULL,
            started_at BIGINT,
            ended_at BIGINT,
            node TEXT,
            findings TEXT,
            UNIQUE (runbook, slot)
        )",
        "CREATE INDEX inspection_runs_by_runbook ON inspection_runs (runbook, created_at)",
        // The grant a run's sessions run under (identity `inspection:NAME`, no account):
        // read by the enforcer like any grant, so a run is held to its window too.
        "CREATE TABLE inspection_grants (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES inspection_runs (id),
            identity TEXT NOT NULL,
            target TEXT NOT NULL,
            starts_at BIGINT NOT NULL,
            ends_at BIGINT NOT NULL,
            revoked_at BIGINT,
            reason TEXT NOT NULL,
            approved_by TEXT NOT NULL,
            CHECK (ends_at > starts_at)
        )",
    ],
};

const MIGRATION_8: Migration = Migration {
    version: 8,
    name: "failed logins counted across nodes",
    statements: &[
        // One row per failed login a node counted, kept for its window: for the throttle
        // (`scope` ssh or web, `key` the hex digest it counts by, never the user's text)
        // every node adds the other nodes' rows to its own count; for the failed-login alert
        // (`scope` account, `key` the existing account, `source` the address) the rows of
        // all nodes are the count.
        "CREATE TABLE login_failures (
            node TEXT NOT NULL,
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            at BIGINT NOT NULL,
            source TEXT
        )",
        "CREATE INDEX login_failures_at ON login_failures (at)",
        "CREATE INDEX login_failures_key ON login_failures (scope, key)",
        // When the failed-login alert last went out for an account, whichever node sent it:
        // one conditional upsert decides that it goes out once per window.
        "CREATE TABLE login_alerts (
            account TEXT PRIMARY KEY,
            alerted_at BIGINT NOT NULL
        )",
    ],
};

const MIGRATION_9: Migration = Migration {
    version: 9,
    name: "recordings removed under [retention]",
    statements: &[
        // One row per session whose recording was removed at the end of its retention:
        // inserting it is the claim (of two nodes, one removes), and it is what a replay
        // answers with afterwards. The session row itself stays.
        "CREATE TABLE recordings_expired (
            session_id TEXT PRIMARY KEY REFERENCES sessions (id),
            expired_at BIGINT NOT NULL,
            node TEXT NOT NULL
        )",
    ],
};
