//! A device's clock seen from ours: which `Instant` a device frame index corresponds to.
//!
//! Each callback gives a mark (its first frame's index and the instant it estimates for
//! it). Those estimates jitter by up to a period; the frame count does not. The clock keeps
//! a smoothed offset between the two, leaning towards the least delayed estimates. A mark
//! much earlier than the clock expects starts it over at once; marks much later start it
//! over only when three come in a row (a stall, or frames lost in a full ring): one late
//! callback on a busy machine is the scheduler, not the device.

use std::time::{Duration, Instant};

/// One callback's position on a device clock: the index of its first frame, and the
/// instant that frame was played (output) or captured (input).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    pub frame: u64,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceClock {
    rate: f64,
    anchor: Option<Instant>,
    /// Frame 0 happened `offset` seconds after `anchor`.
    offset: f64,
    /// Marks in a row much later than the clock, and the earliest of their offsets.
    late: u32,
    late_offset: f64,
}

/// How far a mark may be from the clock before it counts as a jump, in seconds.
const JUMP: f64 = 0.03;
/// Late marks in a row that move the clock.
const LATE_RUN: u32 = 3;

impl DeviceClock {
    pub(crate) fn new(rate: u32) -> Self {
        DeviceClock {
            rate: f64::from(rate.max(1)),
            anchor: None,
            offset: 0.0,
            late: 0,
            late_offset: 0.0,
        }
    }

    /// Takes one callback's estimate for frame `frame`.
    pub(crate) fn follow(&mut self, frame: u64, at: Instant) {
        let first = self.anchor.is_none();
        let anchor = *self.anchor.get_or_insert(at);
        let secs = match at.checked_duration_since(anchor) {
            Some(d) => d.as_secs_f64(),
            None => -anchor.duration_since(at).as_secs_f64(),
        };
        let offset = secs - frame as f64 / self.rate;
        if first || offset < self.offset - JUMP {
            self.offset = offset;
            self.late = 0;
        } else if offset > self.offset + JUMP {
            self.late_offset = if self.late == 0 {
                offset
            } else {
                self.late_offset.min(offset)
            };
            self.late += 1;
            if self.late >= LATE_RUN {
                self.offset = self.late_offset;
                self.late = 0;
            }
        } else {
            self.late = 0;
            let k = if offset < self.offset { 0.3 } else { 0.02 };
            self.offset += k * (offset - self.offset);
        }
    }

    /// The instant of frame `frame` (a fractional index at the device rate), or `None`
    /// before the first mark.
    pub(crate) fn at(&self, frame: f64) -> Option<Instant> {
        let anchor = self.anchor?;
        let secs = self.offset + frame / self.rate;
        Some(if secs >= 0.0 {
            anchor + Duration::from_secs_f64(secs)
        } else {
            anchor - Duration::from_secs_f64(-secs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittery_marks_give_a_steady_clock() {
        let t0 = Instant::now();
        let mut c = DeviceClock::new(48_000);
        for k in 0..200u64 {
            // Callbacks of 480 frames, each estimate late by 0..8 ms.
            let late = Duration::from_micros((k * 7919) % 8000);
            c.follow(k * 480, t0 + Duration::from_millis(10 * k) + late);
        }
        let at = c.at(480.0 * 200.0).unwrap();
        let want = t0 + Duration::from_millis(2000);
        let err = if at > want { at - want } else { want - at };
        assert!(err < Duration::from_millis(3), "{err:?}");
        // Frames 10 ms apart come out exactly 10 ms apart.
        let a = c.at(1000.0).unwrap();
        let b = c.at(1480.0).unwrap();
        assert_eq!(b - a, Duration::from_millis(10));
    }

    #[test]
    fn one_late_callback_does_not_move_the_clock_but_a_lasting_shift_does() {
        let t0 = Instant::now();
        let mut c = DeviceClock::new(48_000);
        for k in 0..100u64 {
            c.follow(k * 480, t0 + Duration::from_millis(10 * k));
        }
        let before = c.at(48_000.0).unwrap();
        // A callback 60 ms late (the thread was not scheduled), then on time again.
        c.follow(100 * 480, t0 + Duration::from_millis(1060));
        c.follow(101 * 480, t0 + Duration::from_millis(1010));
        assert_eq!(c.at(48_000.0).unwrap(), before);
        // 50 ms of frames lost: every mark from now on is 50 ms later.
        for k in 102..106u64 {
            c.follow(k * 480, t0 + Duration::from_millis(10 * k + 50));
        }
        let after = c.at(48_000.0).unwrap();
        let moved = after.duration_since(before);
        assert!(
            moved > Duration::from_millis(45) && moved < Duration::from_millis(55),
            "{moved:?}"
        );
    }
}
