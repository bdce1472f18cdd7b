//! The second factor: time-based one-time passwords (RFC 6238, the codes authenticator apps
//! show), for the roles that need them.
//!
//! HMAC-SHA1, 6 digits, 30-second steps, the code of the step before and after also accepted
//! (clocks drift). A code is good once: the database keeps, per user, the last step a code
//! was accepted for (`users.totp_last_step`, [`crate::db::Db::totp_use`]) and refuses that
//! step and older ones, on every node and after a restart. Secrets are 160
//! random bits, stored sealed by the vault (`users.totp_secret`); they are shown once, at
//! enrollment, as an `otpauth://` URI and its QR code. Not the SSH exchange that asks for the
//! code (that is [`crate::ssh::connection`]) and not the decision which roles need it
//! (that is `policy`).
//!
//! Why not the `totp-rs` crate (decided for issue 7): the cryptography here already is a
//! library (`hmac` with `sha1`); what is ours is RFC 4226's dynamic truncation, the eight
//! lines of [`code_at`], pinned by the RFC 4226 and RFC 6238 test vectors below. `totp-rs`
//! would replace only those: its window check answers yes or no, while the replay guard needs
//! *which* step matched, so the loop over the three steps stays ours either way; its
//! `otpauth://` URL and its QR code (a PNG, behind the `qr` feature) are not the fixed URI and
//! the terminal QR code that `menwei totp enroll` prints and the tests check. One more
//! dependency tree for eight lines that test vectors already hold in place is not worth it.

use hmac::{Hmac, Mac};
use policy::Role;
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::vault::{Vault, VaultError};

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Menwei";

/// A fresh random secret.
pub fn generate_secret() -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut_slice());
    bytes
}

/// The secret in unpadded RFC 4648 base32, as authenticator apps want it.
pub fn base32(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(data_encoding::BASE32_NOPAD.encode(secret))
}

/// `secret` sealed by the vault for `users.totp_secret` (its base32 text is what is sealed).
pub fn seal(vault: &Vault, secret: &[u8]) -> Result<String, VaultError> {
    vault.seal(base32(secret).as_bytes())
}

/// Opens a secret sealed by [`seal`].
pub fn open(vault: &Vault, sealed: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let text = vault.open(sealed)?;
    data_encoding::BASE32_NOPAD
        .decode(text.expose().as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Malformed("TOTP secret is not base32"))
}

/// The `otpauth://` URI an authenticator app imports, for user `name` (a validated name:
/// letters, digits, `.`, `_`, `-`, which need no escaping).
pub fn otpauth_uri(name: &str, secret: &[u8]) -> Zeroizing<String> {
    let secret = base32(secret);
    Zeroizing::new(format!(
        "otpauth://totp/{ISSUER}:{name}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.as_str()
    ))
}

/// The QR code of `text`, drawn with Unicode half blocks for a terminal (dark modules on a
/// light background, with the quiet zone).
pub fn qr_terminal(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| format!("cannot draw a QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The step `unix_secs` falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The HOTP value (RFC 4226) of `secret` for counter `step`, as a number below 10^6.
pub fn code_at(secret: &[u8], step: u64) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(digest.last()? & 0x0f);
    let word: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    let value = u32::from_be_bytes(word) & 0x7fff_ffff;
    Some(value % 10u32.pow(DIGITS))
}

/// The code for `secret` at `unix_secs`, zero-padded to six digits.
pub fn code_text(secret: &[u8], unix_secs: u64) -> Option<String> {
    code_at(secret, step_at(unix_secs)).map(|c| format!("{c:06}"))
}

/// The step whose code `input` is, among the step of `unix_secs` and the one before and
/// after, or `None`. Spaces are ignored (apps show `123 456`); anything but six digits fails.
pub fn matching_step(secret: &[u8], input: &str, unix_secs: u64) -> Option<u64> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = digits.parse().ok()?;
    let now = step_at(unix_secs);
    // Checks all three steps, so the time taken does not say which one matched.
    let mut found = None;
    for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
        let ok = code_at(secret, step).is_some_and(|c| constant_eq(c, wanted));
        if ok && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn constant_eq(a: u32, b: u32) -> bool {
    (a ^ b) == 0
}

/// Whether a user of `role` must give a TOTP code after the key: approvers and admins
/// always; other roles when the policy's `totp_roles` names them.
pub fn required(policy: &policy::Policy, role: Role) -> bool {
    policy.totp_required(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // (time, 8-digit TOTP from the RFC); our codes are its last six digits.
        for (t, eight) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_text(RFC_SECRET, t).unwrap(), &eight[2..], "t={t}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(code_at(RFC_SECRET, i as u64), Some(*want), "count {i}");
        }
    }

    #[test]
    fn neighbouring_steps_match_and_others_do_not() {
        let t = 1_700_000_015u64;
        let step = step_at(t);
        let code = |s: u64| format!("{:06}", code_at(RFC_SECRET, s).unwrap());
        assert_eq!(matching_step(RFC_SECRET, &code(step), t), Some(step));
        assert_eq!(
            matching_step(RFC_SECRET, &code(step - 1), t),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(RFC_SECRET, &code(step + 1), t),
            Some(step + 1)
        );
        assert_eq!(matching_step(RFC_SECRET, &code(step - 2), t), None);
        assert_eq!(matching_step(RFC_SECRET, &code(step + 2), t), None);
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(matching_step(RFC_SECRET, &spaced, t), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "12345x"] {
            assert_eq!(matching_step(RFC_SECRET, bad, t), None, "{bad:?}");
        }
    }

    #[test]
    fn uri_and_qr_code() {
        let uri = otpauth_uri("alice", RFC_SECRET);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Menwei:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Menwei&algorithm=SHA1&digits=6&period=30"
        );
        let qr = qr_terminal(&uri).unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('█') || qr.contains('▀') || qr.contains('▄'));
        assert_eq!(generate_secret().len(), 20);
        assert_ne!(*generate_secret(), *generate_secret());
    }

    #[test]
    fn sealed_secrets_open_to_the_same_bytes() {
        let vault = Vault::from_key([7u8; 32]);
        let secret = generate_secret();
        let sealed = seal(&vault, &secret).unwrap();
        assert!(!sealed.contains(base32(&secret).as_str()));
        assert_eq!(*open(&vault, &sealed).unwrap(), *secret);
        assert!(open(&Vault::from_key([8u8; 32]), &sealed).is_err());
    }
}
