//! The second factor, API tokens and web logins of the test gateway's accounts, kept the
//! way a person keeps them: the TOTP secret from `menwei totp enroll` (as an authenticator app scans
//! it), each code used once, and a token issued with a code (`token add --totp-stdin`) that
//! CLI actions then prove the account with (`MENWEI_TOKEN`), as a script would.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::gateway::{https_client, menwei_bin, Gateway};
use crate::process::{run, Out, Stdin};
use crate::totp::{now_secs, totp};

/// What the harness holds for each account.
#[derive(Debug, Default, Clone)]
pub struct Proofs {
    secrets: HashMap<String, Vec<u8>>,
    /// The last 30-second step whose code was given (the gateway takes each step once).
    last_step: HashMap<String, u64>,
    tokens: HashMap<String, String>,
}

/// The secret in `menwei totp enroll NAME`'s output (its `otpauth://` URI).
#[track_caller]
pub fn enrolled_secret(out: &str) -> Vec<u8> {
    let uri = out
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .unwrap_or_else(|| panic!("totp enroll printed no otpauth:// line:\n{out}"));
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_else(|| panic!("no secret in {uri}"));
    data_encoding::BASE32_NOPAD
        .decode(b32.as_bytes())
        .unwrap_or_else(|e| panic!("secret of {uri}: {e}"))
}

impl Gateway {
    /// `menwei totp enroll NAME`; remembers and returns the secret.
    #[track_caller]
    pub fn enroll_totp(&self, name: &str) -> Vec<u8> {
        let secret = enrolled_secret(&self.cli_ok(&["totp", "enroll", name]));
        let mut p = self.proofs.lock().unwrap();
        p.secrets.insert(name.to_string(), secret.clone());
        p.last_step.remove(name);
        secret
    }

    /// A TOTP code of `name` (enrolled first if the harness holds no secret) that the
    /// gateway has not seen yet: the oldest of the previous, current and next step not used,
    /// waiting for the next step when all three were.
    pub fn totp_code(&self, name: &str) -> String {
        if !self.proofs.lock().unwrap().secrets.contains_key(name) {
            self.enroll_totp(name);
        }
        loop {
            let now = now_secs();
            let step = now / 30;
            let mut p = self.proofs.lock().unwrap();
            let last = p.last_step.get(name).copied();
            // The previous step only while the gateway will surely still see it as such.
            let previous = (now % 30 < 20).then(|| step.saturating_sub(1));
            let pick = [previous, Some(step), Some(step + 1)]
                .into_iter()
                .flatten()
                .find(|s| last.is_none_or(|l| *s > l));
            if let Some(s) = pick {
                p.last_step.insert(name.to_string(), s);
                return totp(&p.secrets[name], s * 30);
            }
            drop(p);
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A live API token of `name`, issued once with `name`'s TOTP code.
    #[track_caller]
    pub fn token(&self, name: &str) -> String {
        if let Some(t) = self.proofs.lock().unwrap().tokens.get(name) {
            return t.clone();
        }
        let out = self.token_add(name, &[]);
        assert!(out.success(), "token add --user {name}:\n{out}");
        let secret = out.stdout_text().trim().to_string();
        self.proofs
            .lock()
            .unwrap()
            .tokens
            .insert(name.to_string(), secret.clone());
        secret
    }

    /// `menwei token add --user NAME EXTRA... --totp-stdin` with a fresh code of `name`.
    pub fn token_add(&self, name: &str, extra: &[&str]) -> Out {
        let code = self.totp_code(name);
        let mut args = vec!["token", "add", "--user", name, "--totp-stdin"];
        args.extend_from_slice(extra);
        self.cli_with(&args, Stdin::Bytes(format!("{code}\n").into_bytes()))
    }

    /// Runs `menwei ARGS...` acting as `name`, proved by `name`'s API token in
    /// `MENWEI_TOKEN` (as a script would).
    pub fn cli_as(&self, name: &str, args: &[&str]) -> Out {
        let token = self.token(name);
        let mut c = Command::new(menwei_bin());
        c.env("MENWEI_TOKEN", token)
            .arg("--config")
            .arg(&self.config)
            .args(args);
        run(c, Stdin::Null, Duration::from_secs(60))
    }

    /// [`Gateway::cli_as`], panicking unless it exits 0; returns stdout.
    #[track_caller]
    pub fn cli_as_ok(&self, name: &str, args: &[&str]) -> String {
        let o = self.cli_as(name, args);
        assert!(
            o.success(),
            "menwei {} (as {name}) failed:\n{o}",
            args.join(" ")
        );
        o.stdout_text()
    }

    /// Gives `user` the web password `password` and logs in over the API with a fresh TOTP
    /// code (every role's web login asks for one by default; the account is enrolled first
    /// if the harness holds no secret); the `Cookie` header value the page would then send.
    pub fn web_cookie(&self, user: &str, password: &str) -> String {
        let mut set = self.web_passwords.lock().unwrap();
        if set.get(user).map(String::as_str) != Some(password) {
            self.cli_with(
                &["user", "passwd", user],
                crate::Stdin::Bytes(format!("{password}\n").into_bytes()),
            )
            .ok();
            set.insert(user.to_string(), password.to_string());
        }
        drop(set);
        let code = self.totp_code(user);
        let r = https_client(None)
            .post(format!(
                "https://127.0.0.1:{}/api/v1/login",
                self.https_port
            ))
            .json(&serde_json::json!({"user": user, "password": password, "totp": code}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "login as {user}: {:?}", r.text());
        let cookies: Vec<String> = r
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .collect();
        assert!(!cookies.is_empty(), "the login set no cookie");
        cookies.join("; ")
    }
}
