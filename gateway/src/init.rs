//! `menwei init`: first-time setup of a data directory — the commented configuration, the
//! gateway's SSH host key, its client key for targets, the vault key, the recording signing
//! key, the web side's self-signed HTTPS certificate and session key, the recordings
//! directory and the migrated database.
//!
//! It never overwrites: if any of the files it would write exists, it stops before writing
//! anything. Secret files are created with mode 0600 and `O_EXCL`. Not a migration or upgrade
//! tool: an existing installation is left alone.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::RngCore;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;
use zeroize::Zeroizing;

use crate::audit::{self, AuditEvent};
use crate::backup::database::sqlite_file;
use crate::config::{self, Config};
use crate::db::Db;

/// What to set up.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// `[ssh] listen`.
    pub ssh_listen: String,
    /// `[https] listen`; the self-signed certificate also names its IP address.
    pub https_listen: String,
    /// `[database] url` as written into the file; `None`: `sqlite://menwei.db` in the data dir.
    pub database_url: Option<String>,
    /// `node_name`; `None`: the host name, or `gw1`.
    pub node_name: Option<String>,
    /// Who runs it, for the audit log.
    pub actor: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The configuration file.
    pub config_path: PathBuf,
    /// The loaded configuration.
    pub config: Config,
    /// The client key's public line, to install on targets.
    pub client_public_key: String,
}

const CONFIG_FILE: &str = "menwei.toml";
const HOST_KEY: &str = "ssh_host_ed25519_key";
const CLIENT_KEY: &str = "client_ed25519_key";
const VAULT_KEY: &str = "vault.key";
const SIGNING_KEY: &str = "recording_signing_key";
const RECORDINGS: &str = "recordings";
const HTTPS_CERT: &str = "https_cert.pem";
const HTTPS_KEY: &str = "https_key.pem";
const DEFAULT_DB_URL: &str = "sqlite://menwei.db";

/// Sets up `opts.data_dir`.
pub async fn init(opts: InitOptions) -> anyhow::Result<InitReport> {
    let dir = std::path::absolute(&opts.data_dir)
        .with_context(|| format!("cannot resolve {}", opts.data_dir.display()))?;
    let node_name = opts
        .node_name
        .clone()
        .unwrap_or_else(config::default_node_name);
    let db_url_written = opts
        .database_url
        .clone()
        .unwrap_or_else(|| DEFAULT_DB_URL.to_string());
    let db_url = config::resolve_database_url(&db_url_written, &dir)
        .map_err(|e| anyhow::anyhow!("--database-url: {e}"))?;
    let listen: std::net::SocketAddr = opts.ssh_listen.parse().map_err(|e| {
        anyhow::anyhow!(
            "--ssh-listen {:?}: {e}; expected HOST:PORT such as 127.0.0.1:2222",
            opts.ssh_listen
        )
    })?;

    let https_listen: std::net::SocketAddr = opts.https_listen.parse().map_err(|e| {
        anyhow::anyhow!(
            "--https-listen {:?}: {e}; expected HOST:PORT such as {}",
            opts.https_listen,
            config::DEFAULT_HTTPS_LISTEN
        )
    })?;

    // Everything we would write; refuse before touching anything if one exists.
    let mut paths: Vec<PathBuf> = [
        CONFIG_FILE,
        HOST_KEY,
        CLIENT_KEY,
        &format!("{CLIENT_KEY}.pub"),
        VAULT_KEY,
        SIGNING_KEY,
        &format!("{SIGNING_KEY}.pub"),
        crate::credentials::SESSION_KEY_FILE,
        HTTPS_CERT,
        HTTPS_KEY,
        RECORDINGS,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    if let Some(file) = sqlite_file(&db_url) {
        paths.push(file);
    }
    for p in &paths {
        if p.symlink_metadata().is_ok() {
            anyhow::bail!("{} already exists; refusing to overwrite", p.display());
        }
    }

    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions on {}", dir.display()))?;

    let host_key = new_ed25519_key(&format!("menwei host key {node_name}"))?;
    write_new(
        &dir.join(HOST_KEY),
        host_key
            .to_openssh(LineEnding::LF)
            .context("cannot encode SSH host key")?
            .as_bytes(),
        0o600,
    )?;

    let client_key = new_ed25519_key(&format!("menwei@{node_name}"))?;
    write_new(
        &dir.join(CLIENT_KEY),
        client_key
            .to_openssh(LineEnding::LF)
            .context("cannot encode client key")?
            .as_bytes(),
        0o600,
    )?;
    let client_public_key = client_key
        .public_key()
        .to_openssh()
        .context("cannot encode client public key")?;
    write_new(
        &dir.join(format!("{CLIENT_KEY}.pub")),
        format!("{client_public_key}\n").as_bytes(),
        0o644,
    )?;

    write_new(&dir.join(VAULT_KEY), random_32()?.as_slice(), 0o600)?;
    let signing_seed = random_32()?;
    write_new(&dir.join(SIGNING_KEY), signing_seed.as_slice(), 0o600)?;
    let signing_public = ed25519_dalek::SigningKey::from_bytes(&signing_seed).verifying_key();
    write_new(
        &dir.join(format!("{SIGNING_KEY}.pub")),
        config::recording_public_key_text(&signing_public).as_bytes(),
        0o644,
    )?;
    write_new(
        &dir.join(crate::credentials::SESSION_KEY_FILE),
        random_32()?.as_slice(),
        0o600,
    )?;
    let (cert_pem, key_pem) = self_signed_certificate(https_listen.ip())?;
    write_new(&dir.join(HTTPS_CERT), cert_pem.as_bytes(), 0o644)?;
    write_new(&dir.join(HTTPS_KEY), key_pem.as_bytes(), 0o600)?;

    let recordings = dir.join(RECORDINGS);
    std::fs::create_dir(&recordings)
        .with_context(|| format!("cannot create {}", recordings.display()))?;
    std::fs::set_permissions(&recordings, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions on {}", recordings.display()))?;

    let config_path = dir.join(CONFIG_FILE);
    let text = config::template(
        &node_name,
        &listen.to_string(),
        &db_url_written,
        &https_listen.to_string(),
    );
    write_new(&config_path, text.as_bytes(), 0o600)?;
    let config = Config::load(&config_path)?;

    let db = Db::connect(&config.database.url).await?;
    if let Some(file) = sqlite_file(&config.database.url) {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot set permissions on {}", file.display()))?;
    }
    audit::append(
        &db,
        &config.node_name,
        AuditEvent::new(opts.actor.clone(), "gateway.init", config.node_name.clone()).with_detail(
            serde_json::json!({
                "data_dir": dir.display().to_string(),
                "host_key_fingerprint": host_key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
                "client_key_fingerprint": client_key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
            }),
        ),
    )
    .await?;
    db.close().await;

    Ok(InitReport {
        config_path,
        config,
        client_public_key,
    })
}

/// The next-steps text printed after a successful init.
pub fn next_steps(report: &InitReport) -> String {
    let c = report.config_path.display();
    let port = report.config.ssh.listen.port();
    let host = report.config.ssh.listen.ip();
    format!(
        "Menwei is set up in {dir}.\n\
         \n\
         Next steps (or export MENWEI_CONFIG={c} and drop --config):\n\
         \x20 menwei --config {c} user add alice --role engineer --key ~/.ssh/id_ed25519.pub\n\
         \x20 menwei --config {c} user add olga --role approver\n\
         \x20 menwei --config {c} totp enroll olga   # olga scans the QR code; approving asks for her code\n\
         \x20 menwei --config {c} target add web01 --address 192.0.2.10:22 --login ops --description \"web server\"\n\
         \x20 menwei --config {c} client-key      # put this line in the target's ~/.ssh/authorized_keys\n\
         \x20 menwei --config {c} target pin web01\n\
         \x20 menwei --config {c} grant add --engineer alice --target web01 --for 2h --reason \"INC-1 disk full\" --by olga\n\
         \x20 menwei --config {c} serve\n\
         Then, as alice:\n\
         \x20 ssh -p {port} alice:web01@{host}\n",
        dir = report.config.dir.display(),
    )
}

/// A self-signed certificate (PEM) and its key (PEM) for `localhost`, 127.0.0.1, ::1 and
/// `ip` when it is another address: enough for a browser on the gateway or an operator
/// who accepts it once; a real deployment names its own in `[https]`.
fn self_signed_certificate(ip: std::net::IpAddr) -> anyhow::Result<(String, Zeroizing<String>)> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot generate the self-signed HTTPS certificate")?;
    Ok((
        certified.cert.pem(),
        Zeroizing::new(certified.signing_key.serialize_pem()),
    ))
}

fn random_32() -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(bytes.as_mut_slice())
        .context("cannot read random bytes from the operating system")?;
    Ok(bytes)
}

/// A new Ed25519 key in OpenSSH's format.
pub fn new_ed25519_key(comment: &str) -> anyhow::Result<PrivateKey> {
    let seed = random_32()?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    Ok(key)
}

/// Creates `path` (which must not exist) with `mode` and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!("{} already exists; refusing to overwrite", path.display())
            } else {
                anyhow::anyhow!("cannot create {}: {e}", path.display())
            }
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> InitOptions {
        InitOptions {
            data_dir: dir.to_path_buf(),
            ssh_listen: "127.0.0.1:2222".into(),
            https_listen: "127.0.0.1:8443".into(),
            database_url: None,
            node_name: Some("gw-test".into()),
            actor: "os:test".into(),
        }
    }

    #[tokio::test]
    async fn init_writes_everything_and_refuses_to_run_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let report = init(opts(&dir)).await.unwrap();
        let c = &report.config;
        assert_eq!(c.node_name, "gw-test");
        c.load_host_key().unwrap();
        let client = c.load_client_key().unwrap();
        assert_eq!(
            client.public_key().to_openssh().unwrap(),
            report.client_public_key
        );
        let signing = c.load_signing_key().unwrap();
        assert_eq!(
            c.load_recording_public_key().unwrap(),
            signing.verifying_key()
        );
        c.ensure_recording_public_key(&signing).unwrap();
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let e = c.ensure_recording_public_key(&other).unwrap_err();
        assert!(e.to_string().contains("not the public half"), "{e}");
        c.load_vault().unwrap();
        // A private key the group may read is refused, naming the file and the fix.
        let vault = dir.join(VAULT_KEY);
        std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = c.load_vault().unwrap_err().to_string();
        assert!(
            e.contains("vault.key") && e.contains("mode 640") && e.contains("chmod 600"),
            "{e}"
        );
        std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(c.recordings.dir.is_dir());
        assert!(c.https.is_some());
        for f in [
            HOST_KEY,
            CLIENT_KEY,
            VAULT_KEY,
            SIGNING_KEY,
            HTTPS_KEY,
            crate::credentials::SESSION_KEY_FILE,
        ] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let db = Db::connect(&c.database.url).await.unwrap();
        assert!(audit::verify(&db).await.unwrap().intact());

        let before = std::fs::read(dir.join(VAULT_KEY)).unwrap();
        let err = init(opts(&dir)).await.unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}/menwei.toml already exists; refusing to overwrite",
                dir.display()
            )
        );
        assert_eq!(std::fs::read(dir.join(VAULT_KEY)).unwrap(), before);
    }

    #[tokio::test]
    async fn any_existing_file_stops_init_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(VAULT_KEY), b"x").unwrap();
        let err = init(opts(tmp.path())).await.unwrap_err().to_string();
        assert!(err.contains("vault.key already exists"), "{err}");
        assert!(!tmp.path().join(CONFIG_FILE).exists());
    }
}
