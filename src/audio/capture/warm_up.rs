//! The echo canceller's weak moments: a residual-echo gate behind it.
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
//! a frame, so the gate does not click. After the warm-up the same holds with a stricter
//! [`RESIDUE_DB`]: a converged canceller that starts to slip (removing 15–20 dB instead
//! of 40, as a playback glitch begins) leaves residue loud enough for a VAD, while a
//! voice over the assistant passes unless it is 15 dB quieter than the echo.
//!
//! The other weak moment is a playback glitch (the output device ran dry): it can move
//! the echo path against the far-end reference, and the canceller then cancels nothing
//! until it finds the new delay (about a second in the rig), so its output is as loud as
//! the microphone and the test above cannot tell echo from the user. So the gate also
//! learns how loud the echo is against the far end (the microphone level over the far
//! end's, from frames the canceller removed almost whole: echo alone), and for
//! [`REALIGN_FRAMES`] far-end-active frames after a glitch ([`WarmUp::rearm`]) it turns
//! down every frame no louder than that echo could be ([`ECHO_MARGIN_DB`] above it).
//! Only someone clearly louder than the echo gets through in that window.

/// How long the gate lasts: far-end-active frames (10 ms each) before it steps aside.
const WARM_UP_FRAMES: u32 = 500;
/// How long the gate holds back echo-like frames after a playback glitch, in
/// far-end-active frames.
const REALIGN_FRAMES: u32 = 300;
/// How much quieter than the microphone the canceller's output must be to count as
/// residue, in dB.
const REMOVED_DB: f32 = 6.0;
/// After the warm-up: how much quieter than the microphone the canceller's output must
/// be to count as residue, in dB.
const RESIDUE_DB: f32 = 15.0;
/// How much the canceller must have removed for a frame to teach the echo's level, in
/// dB: the microphone then holds echo and nothing else.
const ECHO_ONLY_DB: f32 = 20.0;
/// How much louder than the learned echo level a frame must be to pass after a glitch.
const ECHO_MARGIN_DB: f32 = 10.0;
/// How far residue is turned down, in dB. An echo the canceller let through whole (after
/// a glitch) is at the microphone's level, often −20 dBFS: 20 dB down it would still be
/// as loud as a server VAD's threshold (about −40 dBFS), so the cut goes twice as deep.
const CUT_DB: f32 = 40.0;
/// A far-end frame above this level (dBFS) is playing.
const FAR_ACTIVE_DB: f32 = -60.0;
/// How long the far end counts as playing after its last active frame, in frames: the
/// echo path's delay and tail.
const HOLD_FRAMES: u32 = 30;
/// How fast the far end's remembered peak falls, per frame (−0.2 dB: the echo path's
/// delay and tail are covered).
const FAR_PEAK_DECAY: f32 = 0.955;
/// How fast the learned echo level is forgotten, per frame it is learned from (−0.4 dB
/// per second of echo).
const ECHO_GAIN_DECAY: f32 = 0.999;
/// Microphone frames remembered, to cover the processor's own delay.
const NEAR_FRAMES: usize = 3;

/// The gate (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct WarmUp {
    /// Far-end-active capture frames seen.
    active: u32,
    /// Frames the far end still counts as playing.
    hold: u32,
    /// The far end's recent peak level (mean square, falling by [`FAR_PEAK_DECAY`]).
    far_peak: f32,
    /// The echo's level over the far end's (a power ratio), once learned.
    echo_gain: Option<f32>,
    /// Far-end-active frames left in the window after a glitch.
    realign: u32,
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
            far_peak: 0.0,
            echo_gain: None,
            realign: 0,
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
    /// The far end skipped (a playback underrun): frames no louder than the echo are
    /// held back for the next [`REALIGN_FRAMES`] far-end-active frames. (Until the echo's
    /// level is learned there is nothing to compare with, and this does nothing: early on,
    /// the first warm-up's test still runs.)
    pub(crate) fn rearm(&mut self) {
        if self.echo_gain.is_some() {
            self.realign = REALIGN_FRAMES;
        }
    }

    /// Notes a far-end frame.
    pub(crate) fn far(&mut self, far: &[f32]) {
        let level = mean_square(far);
        if level > db_to_power(FAR_ACTIVE_DB) {
            self.hold = HOLD_FRAMES;
        }
        self.far_peak = level.max(self.far_peak * FAR_PEAK_DECAY);
    }

    /// Notes a microphone frame before processing.
    pub(crate) fn near(&mut self, near: &[f32]) {
        self.near.rotate_left(1);
        self.near[NEAR_FRAMES - 1] = mean_square(near);
    }

    /// Gates the processed frame.
    pub(crate) fn gate(&mut self, out: &mut [f32]) {
        let playing = self.hold > 0;
        self.hold = self.hold.saturating_sub(1);
        let mut cut = false;
        if playing {
            let near = self.near.iter().copied().fold(0.0, f32::max);
            let now = self.near[NEAR_FRAMES - 1];
            let level = mean_square(out);
            if self.active < WARM_UP_FRAMES {
                self.active += 1;
                cut |= level * db_to_power(REMOVED_DB) <= near;
            } else {
                cut |= level * db_to_power(RESIDUE_DB) <= now;
            }
            if self.realign > 0 {
                self.realign -= 1;
                let echo = self.far_peak * self.echo_gain.unwrap_or(1.0);
                cut |= level <= echo * db_to_power(ECHO_MARGIN_DB);
            } else if level * db_to_power(ECHO_ONLY_DB) <= near && self.far_peak > 0.0 {
                // Echo alone (a glitch's window would teach a misaligned level).
                // The loudest echo seen, slowly forgotten (pauses, where the microphone
                // hears little, would pull an average down).
                let sample = near / self.far_peak;
                let kept = self.echo_gain.map_or(0.0, |g| g * ECHO_GAIN_DECAY);
                self.echo_gain = Some(sample.max(kept));
            }
        }
        let target = if cut {
            db_to_power(-CUT_DB).sqrt()
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
        // 20 dB removed: residue.
        let cut = cut_db(0.01, &frames(&mut g, 4, 0.1, 0.01));
        assert!((cut - CUT_DB).abs() < 0.5, "cut {cut} dB");
    }

    #[test]
    fn speech_over_the_far_end_passes() {
        let mut g = WarmUp::default();
        for _ in 0..5 {
            // Barely changed: the user is talking.
            assert_eq!(frames(&mut g, 1, 0.2, 0.15), tone(0.15));
        }
    }

    #[test]
    fn nothing_changes_when_the_far_end_is_quiet() {
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
    }

    #[test]
    fn after_the_warm_up_only_residue_the_canceller_removed_15_db_of_is_held_back() {
        let mut g = WarmUp::default();
        frames(&mut g, WARM_UP_FRAMES + 2, 0.1, 0.01);
        // 10 dB removed: a voice quieter than the echo, under it; it passes.
        assert_eq!(frames(&mut g, 2, 0.1, 0.032), tone(0.032));
        // 20 dB removed: residue, as when a converged canceller starts to slip.
        let cut = cut_db(0.01, &frames(&mut g, 2, 0.1, 0.01));
        assert!((cut - CUT_DB).abs() < 0.5, "cut {cut} dB");
    }

    /// Runs `frames` frames under a playing far end with the microphone at `near` and the
    /// canceller's output at `out`; returns the last output.
    fn frames(g: &mut WarmUp, n: u32, near: f32, out: f32) -> Vec<f32> {
        let mut last = Vec::new();
        for _ in 0..n {
            g.far(&tone(0.3));
            g.near(&tone(near));
            last = tone(out);
            g.gate(&mut last);
        }
        last
    }

    fn cut_db(out: f32, gated: &[f32]) -> f32 {
        rms_db(&tone(out)) - rms_db(gated)
    }

    #[test]
    fn after_a_glitch_frames_no_louder_than_the_echo_are_held_back_for_a_while() {
        let mut g = WarmUp::default();
        // Converged: the microphone hears the far end 9.5 dB down, the canceller removes
        // 20 dB of it. The warm-up ends; the echo's level is learned.
        frames(&mut g, WARM_UP_FRAMES + 2, 0.1, 0.01);
        assert!(g.echo_gain.is_some());
        g.rearm();
        // Misaligned: the canceller removes nothing, so its output is the echo itself.
        let cut = cut_db(0.1, &frames(&mut g, 2, 0.1, 0.1));
        assert!(
            (cut - CUT_DB).abs() < 0.5,
            "echo after the glitch: cut {cut} dB"
        );
        // Someone 12 dB louder than the echo gets through.
        assert_eq!(frames(&mut g, 2, 0.4, 0.4), tone(0.4));
        let last = frames(&mut g, REALIGN_FRAMES, 0.1, 0.1);
        assert_eq!(
            last,
            tone(0.1),
            "the window ends after {REALIGN_FRAMES} frames"
        );

        // A glitch before anything was learned leaves it to the first warm-up: the user
        // (the canceller leaving the microphone as it is) still passes.
        let mut g = WarmUp::default();
        g.rearm();
        assert_eq!(frames(&mut g, 3, 0.1, 0.1), tone(0.1));
    }

    /// Converged, with the microphone hearing the echo at −17 dBFS (an amplitude of 0.2):
    /// the canceller removes 23 dB of it, and the warm-up ends.
    fn converged_on_a_loud_echo() -> WarmUp {
        let mut g = WarmUp::default();
        frames(&mut g, WARM_UP_FRAMES + 2, 0.2, 0.014);
        assert!(g.echo_gain.is_some());
        g
    }

    #[test]
    fn echo_let_through_whole_after_a_glitch_ends_well_below_a_vads_threshold() {
        let mut g = converged_on_a_loud_echo();
        g.rearm();
        // The canceller removes nothing: its output is the echo, at −17 dBFS.
        let level = rms_db(&frames(&mut g, 3, 0.2, 0.2));
        // A server VAD hears about −40 dBFS (the simulator's threshold 0.5).
        assert!(
            level < -50.0,
            "{level:.1} dBFS: a VAD would take the echo for the user"
        );
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
