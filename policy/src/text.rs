//! Free text people type for others to read (reasons, comments, descriptions): what an
//! approver reads must be what was filed. Bidirectional controls can show a reason's words
//! in another order than they were typed ("rm -rf /" read backwards as harmless), and
//! zero-width characters can hide text or make two different reasons look the same; both
//! are removed when the text comes in, so every page, terminal, export and audit entry
//! shows the same characters.

/// Whether `c` changes how text around it is shown without being seen itself: the
/// bidirectional embeddings, overrides, isolates and marks, and the zero-width characters.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        // Arabic letter mark, left-to-right and right-to-left marks.
        '\u{061C}' | '\u{200E}' | '\u{200F}'
        // Embeddings and overrides (LRE, RLE, PDF, LRO, RLO).
        | '\u{202A}'..='\u{202E}'
        // Isolates (LRI, RLI, FSI, PDI).
        | '\u{2066}'..='\u{2069}'
        // Zero-width space, non-joiner, joiner; word joiner and the invisible operators.
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        // Byte order mark (zero-width no-break space), Mongolian vowel separator, soft hyphen.
        | '\u{FEFF}' | '\u{180E}' | '\u{00AD}'
    )
}

/// `text` without invisible characters ([`is_invisible`]), trimmed.
pub fn visible_text(text: &str) -> String {
    text.chars()
        .filter(|&c| !is_invisible(c))
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bidi_overrides_and_zero_width_characters_are_removed() {
        // "approve" typed with a right-to-left override around "evorppa".
        assert_eq!(visible_text("ok \u{202E}evorppa\u{202C} x"), "ok evorppa x");
        assert_eq!(visible_text("INC\u{200B}-42"), "INC-42");
        assert_eq!(
            visible_text("\u{FEFF} disk full \u{2066}a\u{2069} "),
            "disk full a"
        );
        assert_eq!(visible_text("磁盘已满，请处理"), "磁盘已满，请处理");
    }

    proptest! {
        #[test]
        fn nothing_invisible_is_left_and_visible_characters_keep_their_order(s in "\\PC{0,64}") {
            let v = visible_text(&s);
            prop_assert!(!v.chars().any(is_invisible));
            let kept: String = s.chars().filter(|&c| !is_invisible(c)).collect();
            prop_assert_eq!(v.as_str(), kept.trim());
            prop_assert_eq!(visible_text(&v), v.clone());
        }
    }
}
