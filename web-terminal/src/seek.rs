//! The seek index: where keyframes are taken and, for a seek, which keyframe to restore and
//! which output bytes to write after it.
//!
//! A keyframe is a snapshot of the whole terminal (screen, scrollback, cursor, modes) that
//! xterm's serialize addon takes of a hidden terminal fed the output in the background,
//! every [`KEYFRAME_EVERY`] bytes. A seek resets the visible terminal, writes the nearest
//! keyframe at or before the target and then the output from there: never more than
//! [`KEYFRAME_EVERY`] bytes. Until the background pass has reached the target, a seek writes
//! from the nearest keyframe if that is at most [`MAX_REPLAY`] bytes, else only the last
//! [`TAIL`] bytes from a line start (an approximation of a screen that is exact once the
//! keyframes are there). This file decides; `player/` does the writing.

/// Output bytes between keyframes.
pub const KEYFRAME_EVERY: usize = 256 * 1024;
/// Most bytes a seek writes from a keyframe (or the start) before falling back to the tail.
pub const MAX_REPLAY: usize = 2 * 1024 * 1024;
/// Bytes written for a seek past the keyframes already taken.
pub const TAIL: usize = 512 * 1024;

/// A keyframe's place: taken after output byte `offset` with `resizes` resizes applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyframeAt {
    /// Output bytes written before the snapshot.
    pub offset: usize,
    /// Resizes applied before the snapshot.
    pub resizes: usize,
}

/// How to bring a reset terminal to a given output offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeekPlan {
    /// Index of the keyframe to restore first, if any.
    pub keyframe: Option<usize>,
    /// Output offset to write from (the keyframe's, or 0, or a tail start).
    pub from: usize,
    /// Whether the screen is the exact one (false: tail approximation).
    pub exact: bool,
}

/// The next keyframe offset after `offset`.
pub fn next_keyframe(offset: usize) -> usize {
    (offset / KEYFRAME_EVERY + 1) * KEYFRAME_EVERY
}

/// Plans a seek to output offset `target`, given the keyframes taken so far (in order) and
/// the output bytes (to find a line start for the tail).
pub fn plan(keyframes: &[KeyframeAt], target: usize, output: &[u8]) -> SeekPlan {
    let n = keyframes.partition_point(|k| k.offset <= target);
    let best = n
        .checked_sub(1)
        .and_then(|i| keyframes.get(i).map(|k| (i, k)));
    let (keyframe, from) = match best {
        Some((i, k)) => (Some(i), k.offset),
        None => (None, 0),
    };
    if target - from <= MAX_REPLAY {
        return SeekPlan {
            keyframe,
            from,
            exact: true,
        };
    }
    let start = target.saturating_sub(TAIL);
    // Start after a newline so the first bytes are not the middle of an escape sequence.
    let line = output
        .get(start..target)
        .and_then(|s| s.iter().take(4096).position(|&b| b == b'\n'))
        .map_or(start, |i| start + i + 1);
    SeekPlan {
        keyframe: None,
        from: line,
        exact: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_evenly_spaced() {
        assert_eq!(next_keyframe(0), KEYFRAME_EVERY);
        assert_eq!(next_keyframe(KEYFRAME_EVERY - 1), KEYFRAME_EVERY);
        assert_eq!(next_keyframe(KEYFRAME_EVERY), 2 * KEYFRAME_EVERY);
    }

    #[test]
    fn seek_restores_the_nearest_keyframe_before_the_target() {
        let kf: Vec<_> = (1..=4)
            .map(|i| KeyframeAt {
                offset: i * KEYFRAME_EVERY,
                resizes: 0,
            })
            .collect();
        let out = vec![b'x'; 5 * KEYFRAME_EVERY];
        let p = plan(&kf, 3 * KEYFRAME_EVERY + 10, &out);
        assert_eq!(
            p,
            SeekPlan {
                keyframe: Some(2),
                from: 3 * KEYFRAME_EVERY,
                exact: true
            }
        );
        let p = plan(&kf, 100, &out);
        assert_eq!(
            p,
            SeekPlan {
                keyframe: None,
                from: 0,
                exact: true
            }
        );
        let p = plan(&kf, 4 * KEYFRAME_EVERY, &out);
        assert_eq!(p.keyframe, Some(3));
    }

    #[test]
    fn seek_past_the_keyframes_writes_a_tail_from_a_line_start() {
        let mut out = vec![b'x'; 10 * MAX_REPLAY];
        let target = 9 * MAX_REPLAY;
        out[target - TAIL + 100] = b'\n';
        let p = plan(&[], target, &out);
        assert_eq!(
            p,
            SeekPlan {
                keyframe: None,
                from: target - TAIL + 101,
                exact: false
            }
        );
        let p = plan(&[], MAX_REPLAY, &out);
        assert!(p.exact);
    }
}
