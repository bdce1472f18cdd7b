//! TOTP codes computed by the tests themselves (RFC 6238, HMAC-SHA1, 6 digits, 30 s), to
//! log in the way an authenticator app would — not by asking the gateway.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The code of `secret` at `unix_secs`.
pub fn totp(secret: &[u8], unix_secs: u64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&(unix_secs / 30).to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = usize::from(d.get(19).copied().unwrap_or(0) & 0x0f);
    let word = d.get(o..o + 4).unwrap_or(&[0, 0, 0, 0]);
    let v = u32::from_be_bytes([word[0], word[1], word[2], word[3]]) & 0x7fff_ffff;
    format!("{:06}", v % 1_000_000)
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
