//! `menwei totp enroll NAME`: gives an account its TOTP second factor. Prints the
//! `otpauth://` URI and its QR code once; the secret is stored sealed by the vault and is
//! never shown again (enrolling again replaces it). Not the check of codes at login (that is
//! the SSH server's, with [`crate::totp`]).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{os_actor, Ctx};
use crate::audit::AuditEvent;

/// `menwei totp …`.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Create (or replace) NAME's TOTP secret; prints the otpauth URI and a QR code once.
    Enroll {
        /// The account.
        name: String,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: TotpCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TotpCommand::Enroll { name } => enroll(ctx, &name).await,
    }
}

async fn enroll(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    policy::validate_name("user", name)?;
    let user = ctx.db.user(name).await?.ok_or_else(|| {
        anyhow::anyhow!("no user {name:?}; add it first: menwei user add {name} --role ROLE")
    })?;
    if user.disabled {
        anyhow::bail!("user {name:?} is disabled");
    }
    let vault = ctx.config.load_vault()?;
    let secret = crate::totp::generate_secret();
    let uri = crate::totp::otpauth_uri(&user.name, &secret);
    // Draw before storing, so a failure leaves the old secret in place.
    let qr = crate::totp::qr_terminal(&uri).map_err(|e| anyhow::anyhow!(e))?;
    let sealed = crate::totp::seal(&vault, &secret)?;
    let replaced = ctx.db.totp_secret(&user.name).await?.is_some();
    let now = crate::time::now_ms();
    if !ctx.db.totp_enroll(&user.name, &sealed, now).await? {
        anyhow::bail!("no user {name:?}");
    }
    ctx.audit(
        AuditEvent::new(os_actor(), "totp.enroll", user.name.clone()).with_detail(json!({
            "role": user.role.as_str(),
            "replaced": replaced,
            "required": crate::totp::required(&ctx.config.policy, user.role),
        })),
    )
    .await?;
    println!(
        "TOTP for user {:?}{}.",
        user.name,
        if replaced {
            " (replaces the earlier secret)"
        } else {
            ""
        }
    );
    println!(
        "Scan the QR code with an authenticator app, or import this URI; it is shown only now:"
    );
    println!();
    println!("{}", uri.as_str());
    println!();
    print!("{qr}");
    println!();
    Ok(ExitCode::SUCCESS)
}
