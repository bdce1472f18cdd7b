//! `menwei recording verify | export | play | cat`: an auditor's tools for one session recording,
//! found by session id (in the recordings directory, or the recording store through
//! [`crate::recording_store`]) or given as a file. Each use is audited;
//! verifying needs no key, the others unwrap an encrypted recording's data key with the vault
//! key, which is audited too (`recording.decrypt`).
//! The format, its chain and its asciicast rendering are the `recordings` crate's; this file
//! only finds files, checks them against this gateway's key and writes the results out.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use recordings::{AsciicastOptions, Event, Recording};
use serde_json::json;

use super::output;
use super::{os_actor, Ctx};
use crate::audit::AuditEvent;

/// `menwei recording …`.
#[derive(Debug, Subcommand)]
pub enum RecordingCommand {
    /// Check a recording's hash chain and seal; exit 1 if it was altered.
    ///
    /// Only the public key is needed: on an auditor's machine with no gateway, give the
    /// exported file and `--public-key` (the gateway's `recording_signing_key.pub`).
    Verify {
        /// Session id, or a recording file.
        #[arg(value_name = "ID|FILE")]
        recording: String,
        /// Check against this public key file (64 hex digits) instead of the gateway's
        /// `[keys] recording_public_key`.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Export a recording.
    Export {
        /// Session id, or a recording file.
        #[arg(value_name = "ID|FILE")]
        recording: String,
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Include the engineer's keystrokes (typed secrets shown as `••••` unless
        /// `--unmask`).
        #[arg(long)]
        include_input: bool,
        #[command(flatten)]
        unmask: Unmask,
    },
    /// Write one recorded stream's raw bytes to stdout, exactly as they crossed the gateway
    /// (input's typed secrets shown as `••••` unless `--unmask`).
    Cat {
        /// Session id, or a recording file.
        #[arg(value_name = "ID|FILE")]
        recording: String,
        /// Which stream: what the target sent (output, stderr) or what the engineer typed (input).
        #[arg(long, value_enum, default_value = "output")]
        stream: StreamArg,
        /// Only this session channel (default: every channel, in recorded order).
        #[arg(long)]
        channel: Option<u32>,
        #[command(flatten)]
        unmask: Unmask,
    },
    /// Replay a session's terminal output on stdout with its original timing.
    Play {
        /// Session id, or a recording file.
        #[arg(value_name = "ID|FILE")]
        recording: String,
        /// Speed factor: 2 plays twice as fast.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
}

/// `--unmask --reason TEXT`: typed secrets (input a terminal did not echo, a password at a
/// prompt) shown as typed instead of `••••`, audited as `recording.unmask`.
#[derive(Debug, Clone, clap::Args)]
pub struct Unmask {
    /// Show typed secrets (input the terminal did not echo) as typed; audited with the reason.
    #[arg(long, requires = "reason")]
    unmask: bool,
    /// Why the secrets are shown (required with --unmask), kept in the audit log.
    #[arg(long, value_name = "TEXT", requires = "unmask")]
    reason: Option<String>,
}

impl Unmask {
    /// Audits `recording.unmask` (who, which session, why, by which command) when asked;
    /// whether secrets are shown.
    async fn audit(&self, ctx: &Ctx, rec: &Recording, command: &str) -> anyhow::Result<bool> {
        if !self.unmask {
            return Ok(false);
        }
        let reason = self.reason.as_deref().unwrap_or_default().trim();
        if reason.is_empty() {
            anyhow::bail!(
                "--unmask needs a reason: --reason \"incident 42: check the sudo prompt\""
            );
        }
        ctx.audit(
            AuditEvent::new(
                os_actor(),
                "recording.unmask",
                rec.meta().session_id.clone(),
            )
            .with_detail(json!({"reason": reason, "command": command, "via": "cli"})),
        )
        .await?;
        Ok(true)
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// asciicast v2, for asciinema play.
    Asciicast,
}

/// A recorded byte stream.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StreamArg {
    /// What the target printed to standard output.
    Output,
    /// What the target printed to standard error.
    Stderr,
    /// What the engineer typed (may contain passwords typed at prompts).
    Input,
}

/// Gaps in playback longer than this are shortened to it.
const MAX_IDLE: Duration = Duration::from_secs(2);

pub(super) async fn run(ctx: &Ctx, cmd: RecordingCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RecordingCommand::Verify {
            recording,
            public_key,
        } => verify(ctx, &recording, public_key.as_deref()).await,
        RecordingCommand::Export {
            recording,
            format: ExportFormat::Asciicast,
            output,
            include_input,
            unmask,
        } => export(ctx, &recording, output.as_deref(), include_input, &unmask).await,
        RecordingCommand::Play { recording, speed } => play(ctx, &recording, speed).await,
        RecordingCommand::Cat {
            recording,
            stream,
            channel,
            unmask,
        } => cat(ctx, &recording, stream, channel, &unmask).await,
    }
}

/// A recording's bytes and where they were read (a file or `s3://…`).
struct Found {
    bytes: Vec<u8>,
    place: String,
}

/// The recording for `arg`: an existing file if it looks like a path, else the session
/// id's recording, read through the recording store (the spool copy while there is one).
async fn locate(ctx: &Ctx, arg: &str) -> anyhow::Result<Found> {
    let as_path = Path::new(arg);
    let path_like = arg.contains('/') || arg.ends_with(".mwrec");
    if path_like && as_path.is_file() {
        return Ok(Found {
            bytes: read(as_path)?,
            place: as_path.display().to_string(),
        });
    }
    if path_like && arg.contains('/') {
        anyhow::bail!("recording file {arg} does not exist");
    }
    let id = arg.strip_suffix(".mwrec").unwrap_or(arg);
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || id.starts_with('.')
    {
        anyhow::bail!(
            "{:?} is neither a session id nor a recording file",
            output::clean(arg)
        );
    }
    // The session row may name the file; otherwise it is <dir>/<id>.mwrec, or the store's.
    let named = ctx.db.session(id).await?.and_then(|s| s.recording);
    let store = crate::recording_store::RecordingStore::open(&ctx.config.recordings)?;
    match store.read(id, named.as_deref()).await {
        Ok(f) => Ok(Found {
            bytes: f.bytes,
            place: f.place,
        }),
        Err(crate::recording_store::StoreError::NotFound(_)) => {
            if let Some(at) = ctx.db.recording_expired_at(id).await? {
                anyhow::bail!("{}", crate::retention::expired_message(id, at));
            }
            let dir = ctx.config.recordings.dir.display();
            match store.url() {
                Some(url) => {
                    anyhow::bail!("no recording for session {id} (neither in {dir} nor in {url})")
                }
                None => {
                    anyhow::bail!("no recording for session {id} ({dir}/{id}.mwrec does not exist)")
                }
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read recording {}", path.display()))
}

/// The key recordings are checked against: the public half alone, never the signing key.
fn trusted_key(ctx: &Ctx) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    Ok(ctx.config.load_recording_public_key()?)
}

/// `recording verify FILE --public-key KEY` where no gateway is configured (no `--config`,
/// no `MENWEI_CONFIG`, no `./menwei.toml`): an auditor's machine checking an exported file.
/// Nothing to audit into there; `None` when a gateway is configured (it is used, and the
/// check is audited) or the command is another.
pub(super) fn without_gateway(
    cmd: &RecordingCommand,
    config: Option<&Path>,
) -> Option<anyhow::Result<ExitCode>> {
    let RecordingCommand::Verify {
        recording,
        public_key: Some(public_key),
    } = cmd
    else {
        return None;
    };
    if config.is_some() || Path::new("menwei.toml").exists() {
        return None;
    }
    Some(verify_standalone(Path::new(recording), public_key))
}

fn verify_standalone(path: &Path, public_key: &Path) -> anyhow::Result<ExitCode> {
    let key = crate::config::read_recording_public_key(public_key)?;
    let bytes = read(path)?;
    Ok(print_report(&recordings::verify(&bytes, &key)))
}

fn print_report(report: &recordings::VerifyReport) -> ExitCode {
    println!("{report}");
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {report}");
        ExitCode::FAILURE
    }
}

/// Verifies against this gateway's key and parses; any damage is an error naming where.
/// An encrypted recording's data key is unwrapped with the vault key, and that decryption
/// is audited (`recording.decrypt`, `how` says by which command).
async fn open_verified(ctx: &Ctx, found: &Found, how: &str) -> anyhow::Result<Recording> {
    let bytes = &found.bytes;
    let report = recordings::verify(bytes, &trusted_key(ctx)?);
    if !report.is_ok() {
        anyhow::bail!("{}: {report}", found.place);
    }
    let at = |e: recordings::ReadError| anyhow::anyhow!("{}: {e}", found.place);
    let meta = Recording::meta_of(bytes).map_err(at)?;
    let Some(wrapped) = &meta.key else {
        return Recording::parse(bytes, None).map_err(at);
    };
    let vault = ctx.config.load_vault().with_context(|| {
        format!(
            "recording {} is encrypted and its key is wrapped by the vault key",
            meta.session_id
        )
    })?;
    let data_key = vault.open_data_key(wrapped).with_context(|| {
        format!(
            "cannot unwrap the data key of recording {} with this gateway's vault key",
            meta.session_id
        )
    })?;
    ctx.audit(
        AuditEvent::new(os_actor(), "recording.decrypt", meta.session_id.clone())
            .with_detail(json!({"how": format!("cli {how}"), "file": found.place})),
    )
    .await?;
    Recording::parse(bytes, Some(&data_key)).map_err(at)
}

async fn verify(ctx: &Ctx, arg: &str, public_key: Option<&Path>) -> anyhow::Result<ExitCode> {
    let found = locate(ctx, arg).await?;
    let bytes = found.bytes;
    let key = match public_key {
        Some(file) => crate::config::read_recording_public_key(file)?,
        None => trusted_key(ctx)?,
    };
    let report = recordings::verify(&bytes, &key);
    ctx.audit(
        AuditEvent::new(
            os_actor(),
            "recording.verify",
            subject(&report.session_id, arg),
        )
        .with_detail(json!({
            "file": found.place,
            "ok": report.is_ok(),
            "sealed": report.is_sealed(),
            "chunks": report.chunks,
            "report": report.to_string(),
        })),
    )
    .await?;
    Ok(print_report(&report))
}

fn subject(session_id: &Option<String>, arg: &str) -> String {
    session_id.clone().unwrap_or_else(|| output::clean(arg))
}

async fn export(
    ctx: &Ctx,
    arg: &str,
    out: Option<&Path>,
    include_input: bool,
    unmask: &Unmask,
) -> anyhow::Result<ExitCode> {
    let found = locate(ctx, arg).await?;
    let rec = open_verified(ctx, &found, "export").await?;
    let unmasked = unmask.audit(ctx, &rec, "export").await?;
    ctx.audit(
        AuditEvent::new(
            os_actor(),
            "recording.export",
            rec.meta().session_id.clone(),
        )
        .with_detail(json!({
            "format": "asciicast",
            "include_input": include_input,
            "unmask": unmasked,
            "output": out.map(|p| p.display().to_string()),
        })),
    )
    .await?;
    let cast = recordings::to_asciicast(
        &rec,
        &AsciicastOptions {
            include_input,
            unmask: unmasked,
            ..AsciicastOptions::default()
        },
    );
    match out {
        Some(file) => std::fs::write(file, cast.as_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(cast.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn play(ctx: &Ctx, arg: &str, speed: f64) -> anyhow::Result<ExitCode> {
    if !(speed.is_finite() && speed > 0.0) {
        anyhow::bail!("--speed must be a positive number, e.g. 2 or 0.5");
    }
    let found = locate(ctx, arg).await?;
    let rec = open_verified(ctx, &found, "play").await?;
    ctx.audit(
        AuditEvent::new(os_actor(), "recording.play", rec.meta().session_id.clone())
            .with_detail(json!({"speed": speed})),
    )
    .await?;
    let events = rec.into_events();
    let Some(channel) = recordings::interactive_channel(&events) else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut last = 0u64;
    let mut stdout = std::io::stdout();
    for (at, event) in &events {
        let data = match event {
            Event::Output { channel: c, data } | Event::Stderr { channel: c, data }
                if *c == channel =>
            {
                data
            }
            _ => continue,
        };
        let gap = Duration::from_micros(at.saturating_sub(last)).min(MAX_IDLE);
        last = last.max(*at);
        let wait = gap.div_f64(speed);
        if !wait.is_zero() {
            stdout.flush()?;
            tokio::time::sleep(wait).await;
        }
        stdout.write_all(data)?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn cat(
    ctx: &Ctx,
    arg: &str,
    stream: StreamArg,
    only: Option<u32>,
    unmask: &Unmask,
) -> anyhow::Result<ExitCode> {
    let found = locate(ctx, arg).await?;
    let rec = open_verified(ctx, &found, "cat").await?;
    let unmasked = unmask.audit(ctx, &rec, "cat").await?;
    let name = match stream {
        StreamArg::Output => "output",
        StreamArg::Stderr => "stderr",
        StreamArg::Input => "input",
    };
    ctx.audit(
        AuditEvent::new(os_actor(), "recording.cat", rec.meta().session_id.clone())
            .with_detail(json!({"stream": name, "channel": only})),
    )
    .await?;
    let redacted;
    let events = if matches!(stream, StreamArg::Input) && !unmasked {
        redacted = recordings::mask::redact(rec.events());
        &redacted
    } else {
        rec.events()
    };
    let mut stdout = std::io::stdout().lock();
    for (_, event) in events {
        let (channel, data) = match (stream, event) {
            (StreamArg::Output, Event::Output { channel, data })
            | (StreamArg::Stderr, Event::Stderr { channel, data })
            | (StreamArg::Input, Event::Input { channel, data }) => (*channel, data),
            _ => continue,
        };
        if only.is_none_or(|c| c == channel) {
            stdout.write_all(data)?;
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
