//! A whole recording file as the reader gets it from disk or from the API: any bytes.
//! No panic; the reader allocates no more than the file's length implies; an error is one
//! line; whatever it accepts passes `check_recording` (verify agrees, lossless rewrite,
//! valid asciicast, command list); the browser's replay read agrees with it.
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
    // The browser's read checks fewer signatures: it accepts whatever `parse` accepts,
    // with the same events, and refuses with `parse`'s error, but for an earlier chunk's
    // signature bytes alone.
    let replay = Recording::parse_for_replay(bytes, None);
    match (&parsed, &replay) {
        (Ok(rec), Ok(seen)) => assert_eq!(rec.events(), seen.events()),
        (Ok(_), Err(e)) => panic!("the replay read refuses what parse accepts: {e}"),
        (Err(e), Err(r)) => assert_eq!(e.to_string(), r.to_string()),
        (Err(e), Ok(_)) => assert!(
            matches!(e, recordings::ReadError::Altered { what: "signature mismatch", .. }),
            "the replay read accepts what parse refuses: {e}"
        ),
    }
    match parsed {
        Ok(rec) => check_recording(bytes, &rec),
        Err(e) => assert!(!e.to_string().contains('\n'), "two-line error: {e}"),
    }
});
