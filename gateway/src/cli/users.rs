//! `menwei user add | key add | key list | key remove | passwd | list | disable | enable |
//! remove | logout`: accounts, their one role, their SSH public keys, and cutting one off.
//! What is done to an existing account is [`crate::accounts`]'s, shared with the API; this
//! file reads the arguments and prints the outcome. Not authentication (the SSH server does
//! that with the keys stored here).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use policy::Role;
use russh::keys::{HashAlg, PublicKey};
use serde_json::json;

use super::output;
use super::{os_actor, Ctx};
use crate::accounts::{AccountError, Admin};
use crate::audit::AuditEvent;
use crate::db::UserKey;

/// `menwei user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account with one role.
    Add {
        /// Login name.
        name: String,
        /// engineer, approver, auditor or admin. An account's role never changes.
        #[arg(long)]
        role: String,
        /// An OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub).
        #[arg(long, value_name = "FILE.pub")]
        key: Option<PathBuf>,
    },
    /// SSH keys of an account.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Set the web login password of an account, read from standard input (one line).
    Passwd {
        /// Login name.
        name: String,
    },
    /// List accounts (removed ones only with --all).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also list removed accounts, marked so.
        #[arg(long)]
        all: bool,
    },
    /// Cut an account off: no login of any kind, its web logins, API tokens and live
    /// sessions end (on every node, within a second), each saying why.
    Disable {
        /// Login name.
        name: String,
        /// Why, shown to the account's live sessions as they end and kept in the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Let a disabled account log in again (its ended sessions stay ended).
    Enable {
        /// Login name.
        name: String,
    },
    /// Remove an account for good: it is disabled and loses its keys, password and second
    /// factor; its web logins, API tokens and live sessions end. Its history stays under its
    /// name, and the name is never given to a new account.
    Remove {
        /// Login name.
        name: String,
        /// Why, kept in the audit log and shown to its live sessions as they end.
        #[arg(long)]
        reason: String,
    },
    /// Give an account another role: its web logins, API tokens and live sessions end (they
    /// were opened under the old role), on every node, within a second.
    Role {
        /// Login name.
        name: String,
        /// The new role: engineer, approver, auditor or admin.
        role: String,
        /// Why, kept in the audit log.
        #[arg(long)]
        reason: String,
    },
    /// End every web login and live session of an account now, on every node; it may log
    /// in again.
    Logout {
        /// Login name.
        name: String,
    },
}

/// `menwei user key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add an OpenSSH public key to an account.
    Add {
        /// Login name.
        name: String,
        /// The public key file.
        #[arg(value_name = "FILE.pub")]
        file: PathBuf,
    },
    /// List an account's keys (fingerprints, when added).
    List {
        /// Login name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a key (a lost laptop's): it logs in no more, and the account's live sessions
    /// and web logins end.
    Remove {
        /// Login name.
        name: String,
        /// The key's `SHA256:…` fingerprint (see `menwei user key list NAME`).
        fingerprint: String,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add { name, role, key } => add(ctx, &name, &role, key.as_deref()).await,
        UserCommand::Key(KeyCommand::Add { name, file }) => key_add(ctx, &name, &file).await,
        UserCommand::Passwd { name } => passwd(ctx, &name).await,
        UserCommand::List { json, all } => list(ctx, json, all).await,
        UserCommand::Disable { name, reason } => disable(ctx, &name, &reason).await,
        UserCommand::Enable { name } => enable(ctx, &name).await,
        UserCommand::Remove { name, reason } => remove(ctx, &name, &reason).await,
        UserCommand::Logout { name } => logout(ctx, &name).await,
        UserCommand::Role { name, role, reason } => set_role(ctx, &name, &role, &reason).await,
        UserCommand::Key(KeyCommand::List { name, json }) => key_list(ctx, &name, json).await,
        UserCommand::Key(KeyCommand::Remove { name, fingerprint }) => {
            key_remove(ctx, &name, &fingerprint).await
        }
    }
}

/// Runs `op` as the OS user at this node, audited `via: cli` with the OS user; a refusal is
/// its one line, with how to find accounts when the name is unknown.
async fn as_operator<T>(
    ctx: &Ctx,
    op: impl AsyncFnOnce(&Admin<'_>) -> Result<T, AccountError>,
) -> anyhow::Result<T> {
    let actor = os_actor();
    let proof = super::proof::unproven();
    let admin = Admin {
        db: &ctx.db,
        node: &ctx.config.node_name,
        actor: &actor,
        proof: &proof,
    };
    op(&admin).await.map_err(|e| match &e {
        AccountError::Refused(r) if r.code == policy::codes::UNKNOWN_USER => {
            anyhow::anyhow!("{}; see: menwei user list", r.message)
        }
        AccountError::Refused(r) => anyhow::anyhow!("{}", r.message),
        AccountError::Failed(_) => anyhow::anyhow!(e),
    })
}

async fn disable(ctx: &Ctx, name: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    as_operator(ctx, async |a| a.disable(name, reason, now).await).await?;
    println!("user {name:?} disabled; its web logins, API tokens and live sessions end");
    Ok(ExitCode::SUCCESS)
}

async fn enable(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    as_operator(ctx, async |a| a.enable(name, now).await).await?;
    println!("user {name:?} enabled");
    Ok(ExitCode::SUCCESS)
}

async fn remove(ctx: &Ctx, name: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    let ended = as_operator(ctx, async |a| a.remove(name, reason, now).await).await?;
    println!(
        "user {name:?} removed ({} key(s), {} web login(s), {} API token(s)); its live sessions \
         end; its history stays and the name is not given again",
        ended.keys, ended.web_logins, ended.tokens
    );
    Ok(ExitCode::SUCCESS)
}

async fn logout(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    let ended = as_operator(ctx, async |a| a.logout(name, now).await).await?;
    println!(
        "user {name:?}: {} web login(s) ended; live sessions end within a second",
        ended.web_logins
    );
    Ok(ExitCode::SUCCESS)
}

async fn set_role(ctx: &Ctx, name: &str, role: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("ROLE: {e}"))?;
    let now = crate::time::now_ms();
    let ended = as_operator(ctx, async |a| a.set_role(name, role, reason, now).await).await?;
    println!(
        "user {name:?} is now {}; {} web login(s) ended, {} API token(s) revoked; live sessions end within a second",
        role.as_str(),
        ended.web_logins,
        ended.tokens
    );
    Ok(ExitCode::SUCCESS)
}

async fn key_list(ctx: &Ctx, name: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let keys = as_operator(ctx, async |a| a.keys(name).await).await?;
    if as_json {
        let items: Vec<serde_json::Value> = keys.iter().map(crate::views::key_json).collect();
        output::json(&serde_json::Value::Array(items))?;
    } else {
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                vec![
                    k.fingerprint.clone(),
                    output::clean(k.comment()),
                    crate::time::rfc3339(k.added_at),
                ]
            })
            .collect();
        output::table(&["FINGERPRINT", "COMMENT", "ADDED"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn key_remove(ctx: &Ctx, name: &str, fingerprint: &str) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    as_operator(ctx, async |a| a.key_remove(name, fingerprint, now).await).await?;
    println!("user {name:?}: key {fingerprint} removed; its live sessions and web logins end");
    Ok(ExitCode::SUCCESS)
}

/// The account called `name` for adding keys or a password to: refused when there is none
/// (with how to add it) or it was removed.
async fn addable(ctx: &Ctx, name: &str) -> anyhow::Result<crate::db::User> {
    match ctx.db.user(name).await? {
        None => anyhow::bail!("no user {name:?}; add it first: menwei user add {name} --role ROLE"),
        Some(u) if u.removed_at.is_some() => anyhow::bail!("user {name:?} was removed"),
        Some(u) => Ok(u),
    }
}

async fn add(ctx: &Ctx, name: &str, role: &str, key: Option<&Path>) -> anyhow::Result<ExitCode> {
    policy::validate_name("user", name)?;
    let role: Role = role.parse()?;
    // Read the keys first so a bad file creates nothing.
    let keys = match key {
        Some(file) => read_public_keys(file)?,
        None => Vec::new(),
    };
    let users = ctx.db.users().await?;
    if let Some(existing) = users.iter().find(|u| u.name.eq_ignore_ascii_case(name)) {
        if existing.removed_at.is_some() {
            anyhow::bail!(
                "the name {:?} belonged to a removed account, and its history keeps it; choose another name",
                existing.name
            );
        }
        if let Err(refusal) = policy::assign_role(Some(existing.role), role).into_result() {
            ctx.audit(
                AuditEvent::new(os_actor(), "user.role.refused", existing.name.clone()).with_detail(
                    json!({"role": existing.role.as_str(), "requested": role.as_str(), "code": refusal.code}),
                ),
            )
            .await?;
            anyhow::bail!("user {:?}: {}", existing.name, refusal.message);
        }
        anyhow::bail!("user {:?} already exists", existing.name);
    }
    policy::assign_role(None, role).into_result()?;
    let now = crate::time::now_ms();
    ctx.db.user_add(name, role, now).await?;
    ctx.audit(
        AuditEvent::new(os_actor(), "user.add", name).with_detail(json!({"role": role.as_str()})),
    )
    .await?;
    println!("user {name:?} added as {role}");
    for (line, fingerprint) in &keys {
        store_key(ctx, name, line, fingerprint).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads one line from stdin, hashes it with argon2id and stores it; audited without it.
async fn passwd(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    addable(ctx, name).await?;
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    crate::credentials::check_password(&password).map_err(|e| anyhow::anyhow!(e))?;
    let hash = tokio::task::spawn_blocking(move || crate::credentials::hash_password(&password))
        .await
        .context("cannot hash the password")?
        .map_err(|e| anyhow::anyhow!(e))?;
    let now = crate::time::now_ms();
    let had_password = ctx.db.password_hash(name).await?.is_some();
    ctx.db.password_set(name, &hash, now).await?;
    // A changed password ends the web logins the old one opened.
    let ended = if had_password {
        ctx.db.web_sessions_revoke_user(name, now).await?
    } else {
        0
    };
    ctx.audit(
        AuditEvent::new(os_actor(), "user.passwd", name)
            .with_detail(json!({"web_logins_ended": ended})),
    )
    .await?;
    println!("password of {name:?} set");
    Ok(ExitCode::SUCCESS)
}

async fn key_add(ctx: &Ctx, name: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let keys = read_public_keys(file)?;
    addable(ctx, name).await?;
    let existing: Vec<String> = ctx
        .db
        .user_key_rows(name)
        .await?
        .into_iter()
        .map(|k| k.fingerprint)
        .collect();
    for (_, fingerprint) in &keys {
        if existing.contains(fingerprint) {
            anyhow::bail!("user {name:?} already has key {fingerprint}");
        }
    }
    for (line, fingerprint) in &keys {
        store_key(ctx, name, line, fingerprint).await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn store_key(ctx: &Ctx, name: &str, line: &str, fingerprint: &str) -> anyhow::Result<()> {
    ctx.db
        .user_key_add(&UserKey {
            user_name: name.to_string(),
            public_key: line.to_string(),
            fingerprint: fingerprint.to_string(),
            added_at: crate::time::now_ms(),
        })
        .await?;
    ctx.audit(
        AuditEvent::new(os_actor(), "user.key.add", name)
            .with_detail(json!({"fingerprint": fingerprint})),
    )
    .await?;
    println!("user {name:?}: key {fingerprint} added");
    Ok(())
}

/// The keys in an OpenSSH public key file (one per line; `#` comments and blank lines
/// skipped), each as (normalized line, `SHA256:…` fingerprint).
pub fn read_public_keys(file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read public key file {}", file.display()))?;
    parse_public_keys(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn parse_public_keys(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.contains("PRIVATE KEY") {
        return Err("this is a private key; pass the public key (the .pub file)".to_string());
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = PublicKey::from_openssh(line)
            .map_err(|e| format!("line {}: not an OpenSSH public key ({e})", i + 1))?;
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let normalized = key
            .to_openssh()
            .map_err(|e| format!("line {}: cannot encode key ({e})", i + 1))?;
        if keys.iter().any(|(_, f)| *f == fingerprint) {
            return Err(format!("line {}: key {fingerprint} appears twice", i + 1));
        }
        keys.push((output::clean(&normalized), fingerprint));
    }
    if keys.is_empty() {
        return Err("no public key in file".to_string());
    }
    Ok(keys)
}

async fn list(ctx: &Ctx, as_json: bool, all: bool) -> anyhow::Result<ExitCode> {
    let users = ctx.db.users().await?;
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for u in users.into_iter().filter(|u| all || u.removed_at.is_none()) {
        let keys = ctx.db.user_key_rows(&u.name).await?;
        let fingerprints: Vec<String> = keys.into_iter().map(|k| k.fingerprint).collect();
        rows.push(vec![
            output::clean(&u.name),
            u.role.to_string(),
            fingerprints.len().to_string(),
            crate::views::account_state(&u).to_string(),
            crate::time::rfc3339(u.created_at),
        ]);
        items.push(json!({
            "name": u.name,
            "role": u.role.as_str(),
            "disabled": u.disabled,
            "removed": u.removed_at.is_some(),
            "created_at": crate::time::rfc3339(u.created_at),
            "keys": fingerprints,
        }));
    }
    if as_json {
        output::json(&serde_json::Value::Array(items))?;
    } else {
        output::table(&["NAME", "ROLE", "KEYS", "STATUS", "CREATED"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8b9mLkQ0d8A8x1w8a9y2m3Rr4x0dWb8Ue4cY1eYQk alice@laptop";

    #[test]
    fn public_key_files_parse_and_bad_ones_say_where() {
        let keys = parse_public_keys(&format!("# mine\n\n{KEY}\n")).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].1.starts_with("SHA256:"));
        assert!(parse_public_keys("ssh-ed25519 garbage\n")
            .unwrap_err()
            .starts_with("line 1: not an OpenSSH public key"));
        assert!(parse_public_keys("-----BEGIN OPENSSH PRIVATE KEY-----\n")
            .unwrap_err()
            .contains("private key"));
        assert!(parse_public_keys("").unwrap_err().contains("no public key"));
        assert!(parse_public_keys(&format!("{KEY}\n{KEY}\n"))
            .unwrap_err()
            .contains("twice"));
    }
}
