//! The process's log: one `tracing` subscriber writing to stderr (the journal under
//! systemd). `menwei serve` sets it up from `[log]` once the configuration is loaded, as
//! text lines or one JSON object per line; `RUST_LOG` (or its older name `MENWEI_LOG`),
//! when set, overrides `[log] level`. The other commands log warnings and errors only, to
//! stderr, so their stdout stays what they print. Not where events are audited: that is
//! [`crate::audit`].
//!
//! What is logged never holds a secret: no password, TOTP code, token, private key or
//! vault credential is passed to `tracing` anywhere in the gateway.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The environment variables that override `[log] level`, first set wins.
const ENV_LEVEL: [&str; 2] = ["RUST_LOG", "MENWEI_LOG"];

/// Runs `f` (loading the configuration) with warnings and errors on stderr, before the
/// configured subscriber exists.
pub fn before_config<T>(f: impl FnOnce() -> T) -> T {
    let early = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(EnvFilter::new("warn"))
        .finish();
    tracing::subscriber::with_default(early, f)
}

/// Installs the subscriber `menwei serve` logs through, as `[log]` says.
pub fn init_serve(config: &LogConfig) {
    let (filter, bad_env) = filter(&config.level);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    if let Some((var, e)) = bad_env {
        tracing::warn!("{var} is not a valid log filter ({e}); using [log] level instead");
    }
}

/// Installs the subscriber of the commands other than `serve`: warnings and errors on
/// stderr.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(EnvFilter::new("warn"))
        .try_init();
}

/// The filter: the first of [`ENV_LEVEL`] that is set and not empty, else `level` (checked
/// when the configuration was loaded). An environment value that does not parse is named
/// in the second half, and `level` used.
fn filter(level: &str) -> (EnvFilter, Option<(&'static str, String)>) {
    let configured = || {
        let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
        // sqlx says at info that each migration table already exists, at every start: noise
        // unless the level names sqlx itself.
        match "sqlx=warn".parse() {
            Ok(quiet) if !level.contains("sqlx") => filter.add_directive(quiet),
            _ => filter,
        }
    };
    for var in ENV_LEVEL {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                return match EnvFilter::try_new(&v) {
                    Ok(f) => (f, None),
                    Err(e) => (configured(), Some((var, e.to_string()))),
                };
            }
            _ => {}
        }
    }
    (configured(), None)
}
