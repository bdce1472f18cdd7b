//! The playback clock: where in the recording the player is, moved forward by real time
//! times the speed, with idle gaps optionally cut short.
//!
//! Pure arithmetic on microseconds: the player passes the real milliseconds elapsed since the
//! last tick and the output events around the position (from the timeline). No timers here.

/// Slowest and fastest speed the page offers.
pub const SPEEDS: (f64, f64) = (0.5, 8.0);

/// Idle gaps are cut to this when skipping is on (microseconds).
pub const IDLE_CAP: u64 = 2_000_000;

/// Position, speed, pause and idle skipping.
#[derive(Clone, Debug, PartialEq)]
pub struct Clock {
    position: u64,
    speed: f64,
    playing: bool,
    skip_idle: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            position: 0,
            speed: 1.0,
            playing: false,
            skip_idle: true,
        }
    }
}

impl Clock {
    /// A paused clock at the start, speed 1, idle skipping on.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// Current position in microseconds.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Moves to `at`, capped at `duration`.
    pub fn set_position(&mut self, at: u64, duration: u64) {
        self.position = at.min(duration);
    }

    /// Sets the speed, kept within [`SPEEDS`]; a non-number becomes 1.
    pub fn set_speed(&mut self, speed: f64) {
        self.speed = if speed.is_finite() {
            speed.clamp(SPEEDS.0, SPEEDS.1)
        } else {
            1.0
        };
    }

    /// Current speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Whether idle gaps longer than [`IDLE_CAP`] are cut short.
    pub fn set_skip_idle(&mut self, on: bool) {
        self.skip_idle = on;
    }

    /// Whether idle skipping is on.
    pub fn skip_idle(&self) -> bool {
        self.skip_idle
    }

    /// Starts or stops.
    pub fn set_playing(&mut self, playing: bool) {
        self.playing = playing;
    }

    /// Whether it is playing.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// Advances by `real_ms` of wall time. `before`/`after` are the output events around the
    /// position (the last at or before it, the first after it). Stops at `duration`.
    /// Returns the new position.
    pub fn advance(
        &mut self,
        real_ms: f64,
        before: Option<u64>,
        after: Option<u64>,
        duration: u64,
    ) -> u64 {
        if !self.playing || !real_ms.is_finite() || real_ms <= 0.0 {
            return self.position;
        }
        // Float to integer: the value is positive and far below u64::MAX for any sane tick.
        let step = (real_ms * 1000.0 * self.speed).round() as u64;
        let mut next = self.position.saturating_add(step);
        if self.skip_idle {
            let idle_from = before.unwrap_or(0);
            let resume = after.unwrap_or(duration);
            let cap_end = idle_from.saturating_add(IDLE_CAP);
            // In a gap longer than the cap: once the cap is spent, jump to its end.
            if resume > cap_end && next > cap_end && next < resume {
                next = resume;
            }
        }
        if next >= duration {
            next = duration;
            self.playing = false;
        }
        self.position = next;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_by_real_time_times_speed_only_while_playing() {
        let mut c = Clock::new();
        assert_eq!(c.advance(100.0, None, None, 10_000_000), 0);
        c.set_playing(true);
        assert_eq!(
            c.advance(100.0, Some(0), Some(150_000), 10_000_000),
            100_000
        );
        c.set_speed(4.0);
        assert_eq!(
            c.advance(100.0, Some(0), Some(600_000), 10_000_000),
            500_000
        );
    }

    #[test]
    fn speed_is_kept_between_half_and_eight() {
        let mut c = Clock::new();
        c.set_speed(100.0);
        assert_eq!(c.speed(), 8.0);
        c.set_speed(0.01);
        assert_eq!(c.speed(), 0.5);
        c.set_speed(f64::NAN);
        assert_eq!(c.speed(), 1.0);
    }

    #[test]
    fn long_idle_gap_is_cut_to_two_seconds_when_skipping() {
        let mut c = Clock::new();
        c.set_playing(true);
        // Output at 1 s, the next at 60 s.
        c.set_position(1_000_000, 100_000_000);
        let mut ticks = 0;
        while c.position() < 60_000_000 {
            c.advance(100.0, Some(1_000_000), Some(60_000_000), 100_000_000);
            ticks += 1;
        }
        assert_eq!(c.position(), 60_000_000);
        assert_eq!(ticks, 21, "2 s of idle, then the jump");
        let mut t = 0;
        c.set_skip_idle(false);
        c.set_position(1_000_000, 100_000_000);
        c.set_playing(true);
        for _ in 0..25 {
            t = c.advance(100.0, Some(1_000_000), Some(60_000_000), 100_000_000);
        }
        assert_eq!(t, 3_500_000);
    }

    #[test]
    fn stops_at_the_end() {
        let mut c = Clock::new();
        c.set_playing(true);
        c.set_skip_idle(false);
        assert_eq!(c.advance(5_000.0, Some(0), None, 1_000_000), 1_000_000);
        assert!(!c.playing());
    }
}
