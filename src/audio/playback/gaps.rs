//! Time the output device lost, as its play times show it: whether or not it also
//! reported an underrun.
//!
//! Each callback says when its first frame will be played. One callback's frames end
//! exactly where the next callback's start, so the play time moves on by the frames
//! written and by nothing else. When a sound server drops a cycle of its graph (seen with
//! PipeWire on a busy machine: whole 128-frame cycles, with no xrun told to the client),
//! the next play time comes later than that: the listener heard a cut, and the echo path
//! moved by as much.
//!
//! Play-time estimates jitter on some backends, and a late estimate is followed by one
//! that steps back. So a step counts as a gap only when the next callback keeps it (does
//! not step back by half of it or more). A slow mean of the small steps takes out a
//! steady bias (a device rate a little off its nominal one).
//!
//! Runs in the device callback: no allocation, no lock, constant time.

/// The least step counted, in ns; steps are also counted only from a quarter of the
/// callback's own length up, to stay clear of coarse play-time estimates.
const MIN_STEP_NS: i64 = 1_500_000;

/// Callbacks skipped at the start, while a device settles its timing.
const SETTLING: u8 = 4;

/// Follows one output stream's play times.
#[derive(Debug, Clone)]
pub(crate) struct GapWatch {
    rate: u32,
    /// The last callback's play time (ns, any fixed origin) and frames.
    last: Option<(i64, u64)>,
    /// A step seen at the last callback, waiting for this one to keep it (0: none).
    pending: i64,
    /// The mean of the small steps, ×64.
    bias64: i64,
    settling: u8,
}

impl GapWatch {
    pub(crate) fn new(rate: u32) -> Self {
        GapWatch {
            rate: rate.max(1),
            last: None,
            pending: 0,
            bias64: 0,
            settling: SETTLING,
        }
    }

    /// Takes one callback: the play time of its first frame (ns, from any fixed origin)
    /// and how many frames it wrote. Returns the length of a gap it confirmed, in ns.
    pub(crate) fn note(&mut self, played_ns: i64, frames: u64) -> Option<u64> {
        let (last_ns, last_frames) = self.last.replace((played_ns, frames))?;
        if self.settling > 0 {
            self.settling -= 1;
            return None;
        }
        let span = (last_frames.saturating_mul(1_000_000_000) / u64::from(self.rate)) as i64;
        let step = played_ns
            .saturating_sub(last_ns)
            .saturating_sub(span)
            .saturating_sub(self.bias64 / 64);
        let least = MIN_STEP_NS.max(span / 4);
        let mut gap = None;
        if self.pending > 0 {
            let pending = std::mem::take(&mut self.pending);
            // Kept, unless this callback stepped back by half of it or more: that is
            // jitter, and the step back is not a gap either.
            if step <= -pending / 2 {
                return None;
            }
            gap = Some(pending as u64);
        }
        if step >= least {
            self.pending = step;
        } else if step > -least {
            // A small step (a large one back is a clock restarted, not drift). The mean
            // moves a 64th of the way to each small step.
            self.bias64 += step;
        }
        gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    /// Feeds callbacks of `frames` with the given play-time offsets (ns) from a perfect
    /// clock; returns the gaps confirmed.
    fn run(frames: u64, offsets: impl IntoIterator<Item = i64>) -> Vec<u64> {
        let mut w = GapWatch::new(RATE);
        let span = (frames * 1_000_000_000 / u64::from(RATE)) as i64;
        let mut gaps = Vec::new();
        for (k, off) in offsets.into_iter().enumerate() {
            gaps.extend(w.note(k as i64 * span + off, frames));
        }
        gaps
    }

    #[test]
    fn a_steady_clock_has_no_gaps() {
        assert!(run(240, std::iter::repeat_n(0, 1000)).is_empty());
    }

    #[test]
    fn a_lost_graph_cycle_is_one_gap_of_its_length() {
        // 128 frames (2.67 ms) lost after callback 100: every later play time is later.
        let lost = 128 * 1_000_000_000 / i64::from(RATE);
        let gaps = run(240, (0..300).map(|k| if k > 100 { lost } else { 0 }));
        assert_eq!(gaps, [lost as u64]);
        // Two, far apart, are two.
        let gaps = run(
            240,
            (0..300).map(|k| lost * i64::from(k > 100) + lost * i64::from(k > 200)),
        );
        assert_eq!(gaps.len(), 2);
    }

    #[test]
    fn a_late_estimate_that_comes_back_is_jitter() {
        // One estimate 4 ms late, then on time again: no gap.
        let gaps = run(240, (0..300).map(|k| if k == 100 { 4_000_000 } else { 0 }));
        assert!(gaps.is_empty(), "{gaps:?}");
        // Estimates wandering within ±0.6 ms (under the least step) never count.
        let gaps = run(
            240,
            (0..2000).map(|k| ((k * 7919) % 1200) as i64 * 1000 - 600_000),
        );
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    #[test]
    fn the_first_callbacks_are_not_judged() {
        // A device settling: its first play times step around.
        let gaps = run(
            240,
            [0, 9_000_000, 9_000_000, 20_000_000, 20_000_000]
                .into_iter()
                .chain(std::iter::repeat_n(20_000_000, 100)),
        );
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    #[test]
    fn a_device_a_little_off_its_rate_has_no_gaps() {
        // 200 ppm fast: each 5 ms callback's play time comes 1 µs early.
        assert!(run(240, (0..5000).map(|k| -(k as i64) * 1000)).is_empty());
    }

    #[test]
    fn long_periods_need_a_larger_step() {
        // At 20 ms, a 3 ms step is under a quarter period: estimates that coarse are not
        // trusted.
        let gaps = run(960, (0..300).map(|k| if k > 100 { 3_000_000 } else { 0 }));
        assert!(gaps.is_empty());
        let gaps = run(960, (0..300).map(|k| if k > 100 { 8_000_000 } else { 0 }));
        assert_eq!(gaps, [8_000_000]);
    }
}
