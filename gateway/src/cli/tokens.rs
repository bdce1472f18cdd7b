//! `menwei token add | list | revoke`: API tokens for scripts, issued and revoked by an
//! admin. The secret (`mwt_…`) is printed once and stored only as its SHA-256; a token acts
//! as its user with that user's role. Making and hashing the secret is
//! [`crate::credentials`]'s; checking tokens is [`crate::web::auth`]'s.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::output;
use super::proof::{prove_totp, ProofArgs};
use super::{os_actor, Ctx};
use crate::audit::AuditEvent;
use crate::db::ApiToken;

/// `menwei token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token acting as USER (needs USER's TOTP code); prints the secret once.
    Add {
        /// The account the token acts as.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// How long it works, e.g. 7d; at most `[https] max_token_ttl` (90d unless set).
        #[arg(long, value_name = "DURATION", default_value = crate::config::DEFAULT_TOKEN_TTL)]
        ttl: String,
        /// How the account proves it is them: its TOTP code (a token cannot make another).
        #[command(flatten)]
        proof: ProofArgs,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once.
    Revoke {
        /// Token id (t-…).
        id: String,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    match cmd {
        TokenCommand::Add { user, ttl, proof } => {
            let ttl =
                crate::time::parse_duration(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let max = ctx
                .config
                .https
                .as_ref()
                .map_or(crate::config::DEFAULT_MAX_TOKEN_TTL, |h| h.max_token_ttl);
            if ttl > max {
                anyhow::bail!(
                    "--ttl {} is longer than [https] max_token_ttl ({})",
                    policy::format_duration(crate::time::duration_ms(ttl)),
                    policy::format_duration(crate::time::duration_ms(max))
                );
            }
            let ttl_ms = crate::time::duration_ms(ttl);
            let Some(u) = ctx.db.user(&user).await? else {
                anyhow::bail!("no user {:?}; see: menwei user list", output::clean(&user));
            };
            if u.disabled {
                anyhow::bail!("user {:?} is disabled", u.name);
            }
            let proof = prove_totp(ctx, &u.name, &proof).await?;
            let (secret, hash) = crate::credentials::new_token();
            let token = ApiToken {
                id: format!("t-{}", hex::encode(rand::random::<[u8; 4]>())),
                user_name: u.name.clone(),
                token_hash: hash,
                created_at: now,
                created_by: os_actor(),
                expires_at: Some(now.saturating_add(ttl_ms)),
                revoked_at: None,
                last_used_at: None,
            };
            ctx.db.token_add(&token).await?;
            let mut detail = json!({
                "user": u.name,
                "role": u.role.as_str(),
                "expires_at": token.expires_at.map(crate::time::rfc3339),
            });
            proof.stamp(&mut detail);
            ctx.audit(
                AuditEvent::new(os_actor(), "token.add", token.id.clone()).with_detail(detail),
            )
            .await?;
            eprintln!(
                "token {} for {} ({}); shown once:",
                token.id,
                u.name,
                u.role.as_str()
            );
            println!("{}", secret.as_str());
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { json } => {
            let tokens = ctx.db.tokens().await?;
            let state = |t: &ApiToken| {
                if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "live"
                }
            };
            if json {
                output::json(&serde_json::Value::Array(
                    tokens
                        .iter()
                        .map(|t| {
                            json!({
                                "id": t.id,
                                "user": t.user_name,
                                "state": state(t),
                                "created_at": crate::time::rfc3339(t.created_at),
                                "created_by": t.created_by,
                                "expires_at": t.expires_at.map(crate::time::rfc3339),
                                "revoked_at": t.revoked_at.map(crate::time::rfc3339),
                                "last_used_at": t.last_used_at.map(crate::time::rfc3339),
                            })
                        })
                        .collect(),
                ))?;
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            output::clean(&t.user_name),
                            state(t).to_string(),
                            crate::time::rfc3339(t.created_at),
                            output::time_or_dash(t.expires_at),
                            output::time_or_dash(t.last_used_at),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "USER", "STATE", "CREATED", "EXPIRES", "LAST USED"],
                    &rows,
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id } => {
            if !ctx.db.token_revoke(&id, now).await? {
                anyhow::bail!(
                    "no live token {:?}; see: menwei token list",
                    output::clean(&id)
                );
            }
            ctx.audit(AuditEvent::new(os_actor(), "token.revoke", id.clone()))
                .await?;
            println!("token {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}
