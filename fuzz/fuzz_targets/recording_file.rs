//! A whole recording file as the reader gets it from disk or from the API: any bytes.
//! No panic; the reader allocates no more than the file's length implies; an error is one
//! line; whatever it accepts passes `check_recording` (verify agrees, lossless rewrite,
//! valid asciicast, command list).
#![no_main]

use libfuzzer_sys::fuzz_target;
use menwei_fuzz::{check_recording, measure, reader_budget};
use recordings::Recording;

fuzz_target!(|bytes: &[u8]| {
    let (parsed, peak) = measure(|| Recording::parse(bytes, None));
    assert!(
        peak <= reader_budget(bytes.len()),
        "reading {} bytes allocated {peak} bytes at once",
        bytes.len()
    );
    match parsed {
        Ok(rec) => check_recording(bytes, &rec),
        Err(e) => assert!(!e.to_string().contains('\n'), "two-line error: {e}"),
    }
});
