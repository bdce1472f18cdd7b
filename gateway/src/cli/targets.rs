//! `menwei target add | pin | list`: the servers behind the gateway, their login, their
//! vaulted password and their pinned host key. This is the admin's view and shows addresses;
//! nothing here is ever shown to an engineer. Not the SSH client (that is
//! [`crate::session::upstream`]).

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use russh::keys::HashAlg;
use serde_json::json;
use zeroize::Zeroizing;

use super::output;
use super::{os_actor, Ctx};
use crate::audit::AuditEvent;
use crate::db::Target;

/// `menwei target …`.
#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Add a target server.
    Add {
        /// Name engineers use: ssh alice:NAME@gateway.
        name: String,
        /// HOST:PORT of its SSH server.
        #[arg(long, value_name = "HOST:PORT")]
        address: String,
        /// The account the gateway logs in as.
        #[arg(long, value_name = "USER")]
        login: String,
        /// Shown to engineers in the menu.
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
        /// Pin the host key by fingerprint now instead of `menwei target pin`.
        #[arg(long, value_name = "SHA256:…")]
        host_key_fingerprint: Option<String>,
        /// Read the target password from stdin (kept encrypted; otherwise the client key is used).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Connect to the target, show its host key and pin it.
    Pin {
        /// Target name.
        name: String,
        /// Replace a different key pinned before (only if the target's key really changed).
        #[arg(long)]
        replace: bool,
    },
    /// List targets (admin view, with addresses).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: TargetCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TargetCommand::Add {
            name,
            address,
            login,
            description,
            host_key_fingerprint,
            password_stdin,
        } => {
            add(
                ctx,
                Target {
                    name,
                    address,
                    login,
                    description: policy::visible_text(&description),
                    host_key: None,
                    host_key_fingerprint,
                    password_enc: None,
                    created_at: crate::time::now_ms(),
                },
                password_stdin,
            )
            .await
        }
        TargetCommand::Pin { name, replace } => pin(ctx, &name, replace).await,
        TargetCommand::List { json } => list(ctx, json).await,
    }
}

async fn add(ctx: &Ctx, mut t: Target, password_stdin: bool) -> anyhow::Result<ExitCode> {
    policy::validate_name("target", &t.name)?;
    check_address(&t.address)?;
    if t.login.is_empty()
        || t.login.len() > 64
        || t.login.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        anyhow::bail!("--login must be 1 to 64 characters without spaces or control characters");
    }
    if t.description.chars().count() > 200 || t.description.chars().any(char::is_control) {
        anyhow::bail!("--description must be at most 200 characters on one line");
    }
    if let Some(fp) = &t.host_key_fingerprint {
        check_fingerprint(fp)?;
    }
    if ctx.db.target(&t.name).await?.is_some() {
        anyhow::bail!("target {:?} already exists", t.name);
    }
    if password_stdin {
        let password = read_password_stdin()?;
        let vault = ctx.config.load_vault()?;
        t.password_enc = Some(vault.seal(password.as_bytes())?);
    }
    ctx.db.target_add(&t).await?;
    ctx.audit(
        // No address or login: the audit log is exported, and those stay on site.
        AuditEvent::new(os_actor(), "target.add", t.name.clone()).with_detail(json!({
            "description": t.description,
            "host_key_fingerprint": t.host_key_fingerprint,
            "auth": if t.password_enc.is_some() { "password" } else { "key" },
        })),
    )
    .await?;
    println!("target {:?} added", t.name);
    if t.host_key_fingerprint.is_none() {
        println!("next: pin its host key: menwei target pin {}", t.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// The password from stdin: all of it, without one trailing newline.
fn read_password_stdin() -> anyhow::Result<Zeroizing<String>> {
    let mut s = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the password from stdin")?;
    let len = s
        .strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .map_or(s.len(), str::len);
    s.truncate(len);
    if s.is_empty() {
        anyhow::bail!("--password-stdin: stdin held no password");
    }
    Ok(s)
}

fn check_address(address: &str) -> anyhow::Result<()> {
    let bad = || {
        anyhow::anyhow!(
            "--address {address:?}: expected HOST:PORT such as 192.0.2.10:22 or [2001:db8::1]:22"
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if port == 0
        || host.is_empty()
        || host
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(bad());
    }
    Ok(())
}

fn check_fingerprint(fp: &str) -> anyhow::Result<()> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    if !ok {
        anyhow::bail!(
            "--host-key-fingerprint {:?}: expected SHA256: followed by 43 base64 characters, \
             as printed by ssh-keygen -lf",
            output::clean(fp)
        );
    }
    Ok(())
}

async fn pin(ctx: &Ctx, name: &str, replace: bool) -> anyhow::Result<ExitCode> {
    let t = ctx
        .db
        .target(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no target {name:?}; see: menwei target list"))?;
    let key = crate::session::upstream::fetch_host_key(&t.address)
        .await
        .with_context(|| {
            format!(
                "cannot fetch the host key of target {name:?} at {}",
                t.address
            )
        })?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let algorithm = key.algorithm().as_str().to_string();
    let line = key
        .to_openssh()
        .map_err(|e| anyhow::anyhow!("cannot encode the host key: {e}"))?;
    if let Some(old) = &t.host_key_fingerprint {
        if *old != fingerprint && !replace {
            ctx.audit(
                AuditEvent::new(os_actor(), "target.pin.mismatch", name).with_detail(json!({
                    "pinned": old,
                    "presented": fingerprint,
                })),
            )
            .await?;
            anyhow::bail!(
                "target {name:?} is pinned to {old} but presents {algorithm} {fingerprint}; \
                 if its key really changed, run: menwei target pin {name} --replace"
            );
        }
    }
    ctx.db.target_pin(name, &line, &fingerprint).await?;
    ctx.audit(
        AuditEvent::new(os_actor(), "target.pin", name).with_detail(json!({
            "algorithm": algorithm,
            "fingerprint": fingerprint,
            "previous": t.host_key_fingerprint,
        })),
    )
    .await?;
    println!("target {name:?}: host key {algorithm} {fingerprint} pinned");
    Ok(ExitCode::SUCCESS)
}

async fn list(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let targets = ctx.db.targets().await?;
    if as_json {
        let items = targets
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "address": t.address,
                    "login": t.login,
                    "description": t.description,
                    "auth": if t.password_enc.is_some() { "password" } else { "key" },
                    "host_key_fingerprint": t.host_key_fingerprint,
                    "host_key": t.host_key,
                    "pinned": t.host_key_fingerprint.is_some(),
                    "allow_exec": ctx.config.policy.target_allows_exec(&t.name),
                    "created_at": crate::time::rfc3339(t.created_at),
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(items))?;
    } else {
        let rows: Vec<Vec<String>> = targets
            .iter()
            .map(|t| {
                vec![
                    output::clean(&t.name),
                    output::clean(&t.address),
                    output::clean(&t.login),
                    if t.password_enc.is_some() {
                        "password"
                    } else {
                        "key"
                    }
                    .to_string(),
                    t.host_key_fingerprint
                        .as_deref()
                        .map_or_else(|| "(not pinned)".to_string(), output::clean),
                    output::clean(&t.description),
                ]
            })
            .collect();
        output::table(
            &[
                "NAME",
                "ADDRESS",
                "LOGIN",
                "AUTH",
                "HOST KEY",
                "DESCRIPTION",
            ],
            &rows,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_host_and_port() {
        check_address("192.0.2.10:22").unwrap();
        check_address("[2001:db8::1]:2222").unwrap();
        check_address("web.internal:22").unwrap();
        for bad in [
            "web",
            "web:",
            ":22",
            "web:0",
            "web:99999",
            "a b:22",
            "u@h:22",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_look_like_openssh() {
        check_fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").unwrap();
        assert!(check_fingerprint("MD5:aa:bb").is_err());
        assert!(check_fingerprint("SHA256:short").is_err());
    }
}
