//! A device's clock seen from ours: which `Instant` a device frame index corresponds to.
//!
//! Each callback gives a mark (its first frame's index and the instant it estimates for
//! it). Those estimates jitter by up to a period; the frame count does not. The clock keeps
//! a smoothed offset between the two, leaning towards the least delayed estimates, and
//! starts over after a jump (a stall, or frames lost in a full ring).

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
}

impl DeviceClock {
    pub(crate) fn new(rate: u32) -> Self {
        DeviceClock {
            rate: f64::from(rate.max(1)),
            anchor: None,
            offset: 0.0,
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
        if first || (offset - self.offset).abs() > 0.03 {
            self.offset = offset;
        } else {
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
}
