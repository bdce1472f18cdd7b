//! The `menwei` command line: argument parsing (clap) and one function per subcommand.
//!
//! Each admin, approver and auditor action here checks `policy`, changes the database and
//! appends an audit entry. Errors come back as `anyhow` and are printed by `main` as one line.
//! Not the SSH server: `menwei serve` only loads the configuration and hands over to
//! [`crate::serve::run`].

mod audit_log;
mod backup;
mod breakglass;
pub(crate) mod grants;
mod inspections;
mod nodes;
mod notify;
mod output;
mod policy;
pub(crate) mod proof;
mod recordings;
mod reports;
pub(crate) mod requests;
mod reviews;
mod sessions;
mod targets;
mod tokens;
mod totp;
mod users;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::audit::{self, AuditEvent};
use crate::config::Config;
use crate::db::Db;

/// Menwei: remote-support SSH bastion gateway with audit.
#[derive(Debug, Parser)]
#[command(name = "menwei", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (menwei.toml).
    #[arg(long, global = true, env = "MENWEI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a data directory: configuration, keys, database.
    Init(InitArgs),
    /// Run the SSH gateway until SIGTERM.
    Serve,
    /// Accounts and their SSH keys.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Servers reachable through the gateway.
    #[command(subcommand)]
    Target(targets::TargetCommand),
    /// Print the public key the gateway logs in to targets with.
    ClientKey,
    /// Time-limited access of an engineer to a target.
    #[command(subcommand)]
    Grant(grants::GrantCommand),
    /// Sessions through the gateway.
    #[command(subcommand)]
    Session(sessions::SessionCommand),
    /// Session recordings: verify, export, replay.
    #[command(subcommand)]
    Recording(recordings::RecordingCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(audit_log::AuditCommand),
    /// Requests for access: file, list, show, withdraw.
    #[command(subcommand)]
    Request(requests::RequestCommand),
    /// The approvers' queue: list, approve, deny.
    #[command(subcommand)]
    Review(reviews::ReviewCommand),
    /// Emergency grants awaiting sign-off.
    #[command(subcommand)]
    Breakglass(breakglass::BreakglassCommand),
    /// The `[policy]` of the configuration.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The second factor (TOTP) of accounts.
    #[command(subcommand)]
    Totp(totp::TotpCommand),
    /// Webhook notifications: delivered, pending, failed.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// API tokens for scripts: add, list, revoke.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// The nodes sharing this database, from their heartbeats.
    #[command(subcommand)]
    Node(nodes::NodeCommand),
    /// Backups of this gateway: create, verify, restore.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// The tender's documents: 《故障处理报告》, 《服务报告》, 《监控日志》 (JSON, CSV, HTML,
    /// PDF; Chinese or English).
    #[command(subcommand)]
    Report(reports::ReportCommand),
    /// Inspection runbooks (巡检): list, show, approve a version, run one now, its
    /// 《服务器巡检报告》.
    #[command(subcommand)]
    Inspection(inspections::InspectionCommand),
    /// Whether this node can serve: the database answers, the recordings directory takes a
    /// write, its disk has more free than `min_free` (what `GET /readyz` answers). Exits 1
    /// when a check fails.
    Status,
}

/// `menwei init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to set up (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Address the SSH server listens on.
    #[arg(long, value_name = "HOST:PORT", default_value = crate::config::DEFAULT_LISTEN)]
    pub ssh_listen: String,
    /// Address the HTTPS server (web page and API) listens on.
    #[arg(long, value_name = "HOST:PORT", default_value = crate::config::DEFAULT_HTTPS_LISTEN)]
    pub https_listen: String,
    /// Database URL [default: sqlite://DIR/menwei.db].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// This node's name [default: the host name, or gw1].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
}

/// Parses the arguments, runs the command, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// clap's own help and version go to stdout; its errors become one line.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let rendered = e.render().to_string();
            let text = rendered
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect::<Vec<_>>()
                .join(" ");
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprintln!("error: {text} (see menwei --help)");
            ExitCode::from(2)
        }
    }
}

/// An error and its causes joined with ": " on one line, without repeats.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if !matches!(cli.command, Command::Serve) {
        // Warnings and errors only, on stderr: stdout is the command's output.
        crate::log::init_cli();
    }
    match cli.command {
        Command::Init(args) => {
            let report = crate::init::init(crate::init::InitOptions {
                data_dir: args.data_dir,
                ssh_listen: args.ssh_listen,
                https_listen: args.https_listen,
                database_url: args.database_url,
                node_name: args.node_name,
                actor: os_actor(),
            })
            .await?;
            print!("{}", crate::init::next_steps(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            // Until the configuration says how, warnings and errors go to stderr.
            let config = crate::log::before_config(|| load_config(cli.config.as_deref()))?;
            crate::log::init_serve(&config.log);
            let db = Db::connect(&config.database.url).await?;
            crate::serve::run(config, db).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(c) => users::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Target(c) => targets::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::ClientKey => {
            let config = load_config(cli.config.as_deref())?;
            let key = config.load_client_key()?;
            let line = key
                .public_key()
                .to_openssh()
                .map_err(|e| anyhow::anyhow!("cannot encode the client public key: {e}"))?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Grant(c) => grants::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Session(c) => sessions::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Recording(c) => match recordings::without_gateway(&c, cli.config.as_deref()) {
            Some(standalone) => standalone,
            None => recordings::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        },
        Command::Audit(c) => audit_log::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Request(c) => requests::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Review(c) => reviews::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Breakglass(c) => {
            breakglass::run(&Ctx::open(cli.config.as_deref()).await?, c).await
        }
        Command::Policy(c) => policy::run(cli.config.as_deref(), c).await,
        Command::Totp(c) => totp::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Notify(c) => notify::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Status => {
            let config = load_config(cli.config.as_deref())?;
            // A database that cannot be connected to is a failed check, not an error.
            let db = match tokio::time::timeout(
                std::time::Duration::from_secs(3),
                Db::connect(&config.database.url),
            )
            .await
            {
                Ok(Ok(db)) => Some(db),
                _ => None,
            };
            let store = crate::recording_store::RecordingStore::open(&config.recordings).ok();
            let report = crate::health::readiness(&config, db.as_ref(), store.as_ref()).await;
            print!("{report}");
            Ok(if report.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Token(c) => tokens::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Node(c) => nodes::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Backup(c) => backup::run(cli.config.as_deref(), c).await,
        Command::Report(c) => reports::run(&Ctx::open(cli.config.as_deref()).await?, c).await,
        Command::Inspection(c) => {
            inspections::run(&Ctx::open(cli.config.as_deref()).await?, c).await
        }
    }
}

/// Where the configuration is: `--config`, `$MENWEI_CONFIG`, or `./menwei.toml`.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let here = PathBuf::from("menwei.toml");
            if !here.exists() {
                anyhow::bail!(
                    "no configuration file: pass --config FILE or set MENWEI_CONFIG \
                     (menwei init --data-dir DIR writes DIR/menwei.toml)"
                );
            }
            here
        }
    };
    Ok(Config::load(&path)?)
}

/// The OS account running the CLI, as the audit log's actor for admin commands: the real
/// user id from the kernel, named from `/etc/passwd`, never `$USER` or `$LOGNAME` (which
/// the caller sets to anything). `uid:N` when the passwd file has no such user.
pub fn os_actor() -> String {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_name(&passwd, uid)
        .map(|u| {
            u.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// The name of `uid` in a passwd file's text (`name:x:uid:gid:…`).
fn passwd_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then_some(name)
    })
}

/// What every command after init needs.
pub struct Ctx {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
}

impl Ctx {
    async fn open(config: Option<&Path>) -> anyhow::Result<Ctx> {
        let config = load_config(config)?;
        let db = Db::connect(&config.database.url).await?;
        Ok(Ctx { config, db })
    }

    /// Appends an audit entry written by this node.
    pub async fn audit(&self, ev: AuditEvent) -> anyhow::Result<()> {
        audit::append(&self.db, &self.config.node_name, ev).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_named_from_the_passwd_file() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nbroken\nops:x:1000:1000::/home/ops:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0), Some("root"));
        assert_eq!(passwd_name(passwd, 1000), Some("ops"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
