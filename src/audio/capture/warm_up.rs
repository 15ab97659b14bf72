//! The echo canceller's first seconds: a residual-echo gate behind it.
//!
//! WebRTC's AEC3 (sonora, and the C++ original alike) needs a few seconds of the far end
//! to converge. Before that, at the onset of a word after a pause, it can let 100 ms of
//! echo through at 10–15 dB below the microphone level: loud enough, with a speaker
//! close to the microphone, for a server VAD to take the assistant's own voice for the
//! user's and cut the reply short.
//!
//! [`WarmUp`] covers that window. While the far end is playing, during its first
//! [`WARM_UP_FRAMES`] frames, a frame that the canceller made at least [`REMOVED_DB`]
//! quieter than the microphone is taken as echo residue and turned down by [`CUT_DB`].
//! A frame the canceller left about as loud as the microphone is someone speaking over
//! the assistant: it passes untouched, so barge-in still works. Gain changes ramp across
//! a frame, so the gate does not click.

/// How long the gate lasts: far-end-active frames (10 ms each) before it steps aside.
pub(crate) const WARM_UP_FRAMES: u32 = 500;
/// How much quieter than the microphone the canceller's output must be to count as
/// residue, in dB.
const REMOVED_DB: f32 = 6.0;
/// How far residue is turned down, in dB.
const CUT_DB: f32 = 20.0;
/// A far-end frame above this level (dBFS) is playing.
const FAR_ACTIVE_DB: f32 = -60.0;
/// How long the far end counts as playing after its last active frame, in frames: the
/// echo path's delay and tail.
const HOLD_FRAMES: u32 = 30;
/// Microphone frames remembered, to cover the processor's own delay.
const NEAR_FRAMES: usize = 3;

/// The gate (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct WarmUp {
    /// Far-end-active capture frames seen.
    active: u32,
    /// Frames the far end still counts as playing.
    hold: u32,
    /// Recent microphone levels (mean square), newest last.
    near: [f32; NEAR_FRAMES],
    /// The gain at the end of the last frame.
    gain: f32,
}

impl Default for WarmUp {
    fn default() -> Self {
        WarmUp {
            active: 0,
            hold: 0,
            near: [0.0; NEAR_FRAMES],
            gain: 1.0,
        }
    }
}

fn mean_square(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

impl WarmUp {
    /// Whether the warm-up is over (and the gate does nothing more).
    fn over(&self) -> bool {
        self.active >= WARM_UP_FRAMES && self.gain == 1.0
    }

    /// Notes a far-end frame.
    pub(crate) fn far(&mut self, far: &[f32]) {
        if !self.over() && mean_square(far) > db_to_power(FAR_ACTIVE_DB) {
            self.hold = HOLD_FRAMES;
        }
    }

    /// Notes a microphone frame before processing.
    pub(crate) fn near(&mut self, near: &[f32]) {
        if self.over() {
            return;
        }
        self.near.rotate_left(1);
        self.near[NEAR_FRAMES - 1] = mean_square(near);
    }

    /// Gates the processed frame.
    pub(crate) fn gate(&mut self, out: &mut [f32]) {
        let playing = self.hold > 0;
        self.hold = self.hold.saturating_sub(1);
        let target = if playing && self.active < WARM_UP_FRAMES {
            self.active += 1;
            let near = self.near.iter().copied().fold(0.0, f32::max);
            let residue = mean_square(out) * db_to_power(REMOVED_DB) <= near;
            if residue {
                db_to_power(-CUT_DB).sqrt()
            } else {
                1.0
            }
        } else {
            1.0
        };
        if target == 1.0 && self.gain == 1.0 {
            return;
        }
        let n = out.len().max(1) as f32;
        let from = self.gain;
        for (i, x) in out.iter_mut().enumerate() {
            *x *= from + (target - from) * (i + 1) as f32 / n;
        }
        self.gain = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(level: f32) -> Vec<f32> {
        (0..240).map(|i| level * (i as f32 * 0.3).sin()).collect()
    }

    fn rms_db(x: &[f32]) -> f32 {
        10.0 * mean_square(x).log10()
    }

    #[test]
    fn residue_under_a_playing_far_end_is_turned_down() {
        let mut g = WarmUp::default();
        for _ in 0..3 {
            g.far(&tone(0.3));
            g.near(&tone(0.1));
            let mut out = tone(0.01); // 20 dB removed: residue
            g.gate(&mut out);
        }
        let mut out = tone(0.01);
        g.far(&tone(0.3));
        g.near(&tone(0.1));
        g.gate(&mut out);
        let cut = rms_db(&tone(0.01)) - rms_db(&out);
        assert!((cut - CUT_DB).abs() < 0.5, "cut {cut} dB");
    }

    #[test]
    fn speech_over_the_far_end_passes() {
        let mut g = WarmUp::default();
        for _ in 0..5 {
            g.far(&tone(0.3));
            g.near(&tone(0.2));
            let mut out = tone(0.15); // barely changed: the user is talking
            g.gate(&mut out);
            assert_eq!(out, tone(0.15));
        }
    }

    #[test]
    fn nothing_changes_when_the_far_end_is_quiet_or_warm_up_is_over() {
        let mut g = WarmUp::default();
        for _ in 0..HOLD_FRAMES + 2 {
            g.near(&tone(0.1));
            let mut out = tone(0.01);
            g.gate(&mut out);
        }
        let mut out = tone(0.01);
        g.near(&tone(0.1));
        g.gate(&mut out);
        assert_eq!(out, tone(0.01), "no far end: untouched");

        let mut g = WarmUp::default();
        let mut last = Vec::new();
        for _ in 0..WARM_UP_FRAMES + 2 {
            g.far(&tone(0.3));
            g.near(&tone(0.1));
            last = tone(0.01);
            g.gate(&mut last);
        }
        assert_eq!(last, tone(0.01), "after the warm-up: untouched");
    }

    #[test]
    fn the_gain_ramps_instead_of_jumping() {
        let mut g = WarmUp::default();
        g.far(&tone(0.3));
        g.near(&tone(0.1));
        let mut out = vec![0.01; 240];
        g.gate(&mut out);
        assert!(
            out[0] > 0.009 && out[239] < 0.0011,
            "{} .. {}",
            out[0],
            out[239]
        );
        assert!(out.windows(2).all(|w| w[1] <= w[0]));
    }
}
