//! Any bytes as the events of one correctly hashed and signed chunk, so that the event
//! decoder (`recordings/src/codec.rs`) and everything after it are reached: random files
//! almost never get past the chunk signatures that `recording_file` meets.
//! The first byte says whether the recording is sealed. No panic; allocation bounded by the
//! input; a refusal can only be a bad event; whatever decodes passes `check_recording`, and
//! the writer's encoding of its events is never longer than the event bytes read (compared
//! before compression, which does not shrink every encoding alike).
#![no_main]

use libfuzzer_sys::fuzz_target;
use menwei_fuzz::{check_recording, key, measure, meta, reader_budget};
use recordings::{ReadError, Recording, Writer};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, events)) = input.split_first() else {
        return;
    };
    let sealed = flags & 1 == 1;
    let mut w = Writer::new(Vec::new(), meta(), &key()).expect("writing to a Vec works");
    w.push_encoded(events).expect("writing to a Vec works");
    w.flush_chunk().expect("writing to a Vec works");
    let bytes = if sealed {
        w.seal(u64::MAX, "client closed")
            .expect("writing to a Vec works")
    } else {
        w.get_ref().clone()
    };

    let (parsed, peak) = measure(|| Recording::parse(&bytes, None));
    assert!(
        peak <= reader_budget(bytes.len()),
        "reading {} bytes allocated {peak} bytes at once",
        bytes.len()
    );
    match parsed {
        Ok(rec) => {
            assert_eq!(rec.is_sealed(), sealed);
            check_recording(&bytes, &rec);
            let mut again =
                Writer::new(Vec::new(), meta(), &key()).expect("writing to a Vec works");
            for (at, event) in rec.events() {
                again
                    .push(*at, event.clone())
                    .expect("writing to a Vec works");
            }
            assert!(
                again.buffered_bytes() <= events.len(),
                "re-encoding {} event bytes took {} more bytes",
                events.len(),
                again.buffered_bytes() - events.len()
            );
        }
        Err(ReadError::BadEvent { .. }) => {}
        Err(e) => panic!("signed chunk refused for something other than its events: {e}"),
    }
});
