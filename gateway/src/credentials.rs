//! What proves who someone is, as the gateway stores and checks it, for the web front door
//! and the CLI alike: argon2id password hashes and the shape a password must have, API
//! token secrets (`mwt_…`) and the SHA-256 under which they are stored, and the file name
//! of the key that signs web logins. Not how a request carries them (cookies, bearer
//! headers, CSRF: `web::auth`), nor where they are stored ([`crate::db`]), nor TOTP
//! ([`crate::totp`]).

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The file in the data directory holding the key that signs web logins (32 bytes). Every
/// node of a cluster needs the same one, like `vault.key`.
pub const SESSION_KEY_FILE: &str = "web_session.key";
/// API tokens start with this.
pub const TOKEN_PREFIX: &str = "mwt_";
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD: usize = 1024;

// ---- passwords ----

/// A password check waiting for a checker thread: the password, the stored hash, where the
/// answer goes.
type Check = (
    Zeroizing<String>,
    String,
    tokio::sync::oneshot::Sender<bool>,
);

/// Checks queued at most; a burst past it waits for room.
const CHECK_QUEUE: usize = 1024;

/// The password checkers: one thread per core, for the whole process. Each argon2id check
/// takes 19 MiB and a core for a few dozen milliseconds; a burst of logins waits in the
/// queue instead of taking the cores that carry live sessions, and the memory stays that
/// of a few threads (500 logins at once straight on the blocking pool took 8 GiB; behind a
/// semaphore but spread over its threads, whose allocator arenas keep what they freed, 350
/// MiB; here about 180 MiB, mostly the connections' buffers: `tests/hostile.rs`).
static CHECKERS: std::sync::LazyLock<tokio::sync::mpsc::Sender<Check>> =
    std::sync::LazyLock::new(|| {
        let (tx, rx) = tokio::sync::mpsc::channel::<Check>(CHECK_QUEUE);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("menwei-password-{i}"))
                .spawn(move || loop {
                    let next = match rx.lock() {
                        Ok(mut rx) => rx.blocking_recv(),
                        Err(_) => None,
                    };
                    let Some((password, hash, answer)) = next else {
                        return;
                    };
                    let _ = answer.send(verify_password(&password, &hash));
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password checker thread: {e}");
            }
        }
        tx
    });

/// [`verify_password`] on the password checker threads (one per core); `false` if no
/// checker can answer (fail closed).
pub async fn check_password_bounded(password: Zeroizing<String>, hash: String) -> bool {
    let (answer, answered) = tokio::sync::oneshot::channel();
    if CHECKERS.send((password, hash, answer)).await.is_err() {
        return false;
    }
    answered.await.unwrap_or(false)
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| format!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (constant time in the hash compare).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A password's shape: long enough, not absurdly long, one line.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        ));
    }
    if n > MAX_PASSWORD || password.chars().any(char::is_control) {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD} characters on one line"
        ));
    }
    Ok(())
}

// ---- API tokens ----

/// A new token secret (`mwt_` and 43 URL-safe characters) and its stored hash.
pub fn new_token() -> (Zeroizing<String>, String) {
    let bytes: [u8; 32] = rand::random();
    let secret = Zeroizing::new(format!("{TOKEN_PREFIX}{}", B64.encode(bytes)));
    let hash = token_hash(&secret);
    (secret, hash)
}

/// How a token secret is stored: SHA-256, hex.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
        assert!(check_password("long enough password").is_ok());
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (secret, hash) = new_token();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(token_hash(&secret), hash);
        assert_eq!(hash.len(), 64);
    }
}
