//! Times the steps of opening a recording natively (parse, timeline, commands). An encrypted
//! recording's data key is read from `FILE.key` (hex, as `make_recording` writes it).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: profile_open FILE")?;
    let bytes = std::fs::read(&path)?;
    let key = match std::fs::read_to_string(format!("{path}.key")) {
        Ok(hex) => {
            let bytes: Result<Vec<u8>, _> = (0..hex.trim().len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
                .collect();
            Some(recordings::DataKey::from_slice(&bytes?).ok_or("the key is not 32 bytes")?)
        }
        Err(_) => None,
    };
    let t = std::time::Instant::now();
    let rec = recordings::Recording::parse_for_replay(&bytes, key.as_ref())?;
    let parsed = t.elapsed();
    let ch = recordings::interactive_channel(rec.events());
    let cmds = recordings::commands(rec.events(), ch);
    let commanded = t.elapsed();
    let tl = web_terminal::timeline::Timeline::from_events(rec.events(), ch, rec.duration_micros());
    let built = t.elapsed();
    println!(
        "parse {parsed:?} commands {:?} timeline {:?} ({} cmds, {} bytes)",
        commanded - parsed,
        built - commanded,
        cmds.len(),
        tl.output().len()
    );
    Ok(())
}
