//! Any bytes as the SSH user name a client sends (`alice:web01`), for `policy::parse_login`.
//! No panic, and:
//! - an accepted name prints back as exactly the bytes sent, and its parts are valid
//!   user and target names;
//! - a refusal carries `bad_username` and one line of printable ASCII (it reaches the
//!   client's terminal and the audit log, so no control byte of the name may ride along).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{codes, parse_login, validate_name};

fuzz_target!(|bytes: &[u8]| {
    match parse_login(bytes) {
        Ok(login) => {
            assert_eq!(login.to_string().as_bytes(), bytes);
            assert!(validate_name("user", &login.engineer).is_ok());
            if let Some(target) = &login.target {
                assert!(validate_name("target", target).is_ok());
            }
        }
        Err(refusal) => {
            assert_eq!(refusal.code, codes::BAD_USERNAME);
            let message = &refusal.message;
            assert!(
                message.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "unprintable refusal: {message:?}"
            );
        }
    }
});
