//! Byte sizes as an operator writes them (`10GiB`, `500 MiB`, `1GB`) and as the gateway
//! says them back (`10 GiB`). Not a policy on what a size means (the recorder decides).

/// Units an operator may write, longest first so that `GiB` is not read as `B`.
const UNITS: &[(&str, u64)] = &[
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("B", 1),
];

/// Parses a whole number of bytes with an optional unit: `1048576`, `512KiB`, `10 GiB`,
/// `2GB` (KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size {s:?}; expected a whole number with a unit, e.g. 10GiB, 500MiB or 2GB (KiB/MiB/GiB/TiB or KB/MB/GB/TB)")
    };
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return Err(bad());
    }
    let unit = unit.trim();
    let scale = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, scale)| *scale)
            .ok_or_else(bad)?
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// A size for people: the largest binary unit that leaves at least 1, with one decimal
/// unless whole (`10 GiB`, `1.5 MiB`, `512 B`).
pub fn format_size(bytes: u64) -> String {
    let units = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, scale) in units {
        if bytes >= scale {
            return if bytes.is_multiple_of(scale) {
                format!("{} {name}", bytes / scale)
            } else {
                // Display only: the rounding of a float is fine here.
                format!("{:.1} {name}", bytes as f64 / scale as f64)
            };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size(" 500 MiB "), Ok(500 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_say_what_is_expected() {
        for bad in [
            "",
            "GiB",
            "10G",
            "1.5GiB",
            "-1GiB",
            "ten MiB",
            "10 GiB extra",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(
                e.contains("expected") && e.contains("10GiB"),
                "{bad:?}: {e}"
            );
        }
        assert!(parse_size("99999999999TiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_read_back_for_people() {
        assert_eq!(format_size(10 << 30), "10 GiB");
        assert_eq!(format_size(3 << 19), "1.5 MiB");
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(parse_size("2MiB").unwrap()), "2 MiB");
    }
}
