//! Proof of the account a CLI command acts as. Whoever can run `menwei` on the gateway host
//! could otherwise approve as any approver by typing `--by bob`, so every command that acts
//! as a named account (`review approve|deny`, `grant add|revoke`, `breakglass signoff`,
//! `request withdraw`, and `token add` for the token's account) first proves it:
//!
//! - the account's TOTP code, asked on the terminal or read from stdin with `--totp-stdin`;
//!   each code is good once (the database's replay guard, shared by every node), and wrong
//!   codes are limited per account ([`MAX_WRONG_CODES`] per [`WRONG_CODE_WINDOW_MS`]) so the
//!   CLI cannot be used to guess one;
//! - or, for scripts, a live API token of that account in `MENWEI_TOKEN` (a token is issued
//!   only with its account's TOTP code, and expires).
//!
//! The audit entry of the action then says `via: cli+totp` or `cli+token`, with the
//! operating-system user from the kernel. Not the check of web or SSH logins.

use std::io::{BufRead, Write};

use clap::Args;
use serde_json::json;

use super::{os_actor, Ctx};
use crate::approvals::Proof;
use crate::audit::AuditEvent;
use crate::credentials::token_hash;

/// The environment variable a script puts an API token in to act as its account.
pub const TOKEN_ENV: &str = "MENWEI_TOKEN";

/// Wrong TOTP codes allowed per account within [`WRONG_CODE_WINDOW_MS`] before the CLI
/// stops checking codes for it: 5 tries in 15 minutes leave a guesser (3 codes in a million
/// match each try) under one chance in 60,000 a day.
pub const MAX_WRONG_CODES: i64 = 5;

/// The window [`MAX_WRONG_CODES`] counts in: 15 minutes.
pub const WRONG_CODE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The audit action of a refused proof.
const REFUSED: &str = "cli.proof.refused";

/// How the acting account proves itself (shared by every command that acts as one).
#[derive(Debug, Clone, Args)]
pub struct ProofArgs {
    /// Read the acting account's TOTP code from the first line of stdin instead of asking on
    /// the terminal. (A script can instead put a live API token of that account in
    /// MENWEI_TOKEN.)
    #[arg(long)]
    pub totp_stdin: bool,
}

/// Proves that the person running this command is `name`: by `MENWEI_TOKEN` when set (and
/// then only by it), else by `name`'s TOTP code. Refused proofs are audited and fail with one
/// line; nothing is done on their behalf.
pub async fn prove(ctx: &Ctx, name: &str, args: &ProofArgs) -> anyhow::Result<Proof> {
    let os_user = os_actor();
    if let Some(secret) = std::env::var(TOKEN_ENV).ok().filter(|s| !s.is_empty()) {
        return by_token(ctx, name, &secret, os_user).await;
    }
    by_totp(ctx, name, args, os_user).await
}

/// Proves that the person running this command is `name` by `name`'s TOTP code alone: for
/// issuing a token, which must not be renewable with a token.
pub async fn prove_totp(ctx: &Ctx, name: &str, args: &ProofArgs) -> anyhow::Result<Proof> {
    by_totp(ctx, name, args, os_actor()).await
}

/// The proof of a CLI action that names no account to prove (e.g. filing a request on an
/// engineer's behalf): the operating-system user only.
pub fn unproven() -> Proof {
    Proof {
        via: "cli",
        os_user: Some(os_actor()),
        token: None,
    }
}

async fn by_token(ctx: &Ctx, name: &str, secret: &str, os_user: String) -> anyhow::Result<Proof> {
    let now = crate::time::now_ms();
    let max_ttl = crate::time::duration_ms(
        ctx.config
            .https
            .as_ref()
            .map_or(crate::config::DEFAULT_MAX_TOKEN_TTL, |h| h.max_token_ttl),
    );
    let token = ctx.db.token_by_hash(&token_hash(secret)).await?;
    let live = token.filter(|t| {
        t.revoked_at.is_none()
            && t.expires_at.is_some_and(|e| e > now)
            && now.saturating_sub(t.created_at) <= max_ttl
    });
    let Some(token) = live else {
        refuse(ctx, name, &os_user, "token unknown, expired or revoked").await?;
        anyhow::bail!("{TOKEN_ENV} holds no live API token");
    };
    if token.user_name != name {
        refuse(ctx, name, &os_user, "token of another account").await?;
        anyhow::bail!(
            "{TOKEN_ENV} is a token of {:?}, not of {name:?}",
            token.user_name
        );
    }
    ctx.db.token_used(&token.id, now).await?;
    Ok(Proof {
        via: "cli+token",
        os_user: Some(os_user),
        token: Some(token.id),
    })
}

async fn by_totp(
    ctx: &Ctx,
    name: &str,
    args: &ProofArgs,
    os_user: String,
) -> anyhow::Result<Proof> {
    if ctx.db.user(name).await?.is_none() {
        anyhow::bail!("no user {name:?}; see: menwei user list");
    }
    let Some((sealed, _)) = ctx.db.totp_secret(name).await? else {
        anyhow::bail!(
            "acting as {name:?} needs {name:?}'s TOTP code, and {name:?} has none: \
             enroll one (menwei totp enroll {name}), or act on the web or with an API token"
        );
    };
    let now = crate::time::now_ms();
    let wrong = ctx
        .db
        .audit_count_since(REFUSED, name, now.saturating_sub(WRONG_CODE_WINDOW_MS))
        .await?;
    if wrong >= MAX_WRONG_CODES {
        anyhow::bail!(
            "too many wrong TOTP codes for {name:?} in the last 15 minutes; try again later"
        );
    }
    let code = read_code(name, args.totp_stdin)?;
    let vault = ctx.config.load_vault()?;
    let secret = crate::totp::open(&vault, &sealed)?;
    let unix_secs = u64::try_from(now / 1000).unwrap_or(0);
    let Some(step) = crate::totp::matching_step(&secret, &code, unix_secs) else {
        refuse(ctx, name, &os_user, "wrong TOTP code").await?;
        anyhow::bail!("wrong TOTP code for {name:?}");
    };
    if !ctx.db.totp_use(name, step).await? {
        refuse(ctx, name, &os_user, "TOTP code already used").await?;
        anyhow::bail!("that TOTP code of {name:?} was already used; wait for the next one");
    }
    Ok(Proof {
        via: "cli+totp",
        os_user: Some(os_user),
        token: None,
    })
}

/// The code: the first line of stdin, or asked on the controlling terminal.
fn read_code(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    let mut line = String::new();
    if from_stdin {
        std::io::stdin().lock().read_line(&mut line)?;
    } else {
        let Ok(mut tty) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            anyhow::bail!(
                "acting as {name:?} needs {name:?}'s TOTP code: run in a terminal, or give it \
                 on stdin with --totp-stdin"
            );
        };
        write!(tty, "TOTP code of {name}: ")?;
        tty.flush()?;
        std::io::BufReader::new(tty).read_line(&mut line)?;
    }
    Ok(line.trim().chars().take(32).collect())
}

async fn refuse(ctx: &Ctx, name: &str, os_user: &str, reason: &str) -> anyhow::Result<()> {
    let subject: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    ctx.audit(
        AuditEvent::new(os_user.to_string(), REFUSED, subject).with_detail(json!({
            "reason": reason,
            "via": "cli",
            "os_user": os_user,
        })),
    )
    .await
}
