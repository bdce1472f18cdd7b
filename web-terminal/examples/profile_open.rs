//! Times the steps of opening a recording natively (parse, timeline, commands).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: profile_open FILE")?;
    let bytes = std::fs::read(path)?;
    let t = std::time::Instant::now();
    let rec = recordings::Recording::parse(&bytes)?;
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
