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
//!
//! The canceller can also lose the echo with no glitch anyone reports: the echo path
//! moves inside the audio server, or its filter diverges. Its output then rises to the
//! microphone's level within a few frames, or above it (a filter that diverged adds its
//! own wrong estimate). The gate sees that too, while the microphone holds no more than
//! the echo could be ([`ECHO_ROOM_DB`] above the learned level): a frame from which the
//! canceller removed less than [`LOST_DB`] and which is the microphone's own waveform,
//! only scaled (correlation [`SAME_WAVE`]; after the warm-up), or in the warm-up
//! [`LOST_FRAMES`] frames in a row from which it removed less than [`NOTHING_DB`], open
//! the same window as a glitch.
//! Someone talking over the assistant makes the microphone louder than the echo alone,
//! and a canceller that still has the echo removes it from under their voice, leaving a
//! waveform that is theirs and not the microphone's; neither is taken for a lost
//! canceller. (In the warm-up, a canceller that does not have the echo yet passes talk
//! over it through, so there only the level tells.) And while the far end plays, a frame
//! louder than anything the microphone heard in the last frames ([`ADDED_DB`] above) is
//! the canceller's own making, not sound from the room, and is turned down (unless gain
//! control is on: it may raise a quiet voice that much).

use crate::audio::FRAME;

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
/// Removal below this (dB), with the microphone holding no more than echo and the output
/// the microphone's own waveform, is the canceller having lost the echo. (Converged, it
/// removes 40 dB and more; one that has just lost the echo, or that leaves its first
/// seconds of heavy suppression too early, 0–8 dB.)
const LOST_DB: f32 = 10.0;
/// In the warm-up: removal below this (dB), with the microphone holding no more than
/// echo, for [`LOST_FRAMES`] frames in a row, is a lost canceller.
const NOTHING_DB: f32 = 3.0;
/// Frames in a row that show a lost canceller by level before the gate acts on it.
const LOST_FRAMES: u32 = 2;
/// A microphone quieter than this (mean square, −50 dBFS) holds no echo worth a VAD's
/// attention.
const AUDIBLE: f32 = 1e-5;
/// Correlation of the output with the microphone above which the output is the
/// microphone's sound, only scaled: nothing was taken out of it. Someone talking over
/// the echo leaves their own voice, not the sum: at the echo's level that correlates at
/// about 0.7 with the microphone, 6 dB over it at 0.9 (in `tests/aec.rs`, with the search
/// over delays, up to 0.95 on some frames).
const SAME_WAVE: f32 = 0.98;
/// The processors' own delay from microphone to output is within this many samples
/// (sonora's conversions: 300).
const MAX_DELAY: usize = 2 * FRAME;
/// How far above the learned echo level the microphone may be and still hold only echo.
const ECHO_ROOM_DB: f32 = 6.0;
/// How much louder than the microphone's recent frames the canceller's output must be to
/// be its own making.
const ADDED_DB: f32 = 3.0;
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
    /// Frames in a row that looked like a lost canceller.
    lost: u32,
    /// The last [`NEAR_FRAMES`] microphone frames' samples, oldest first (when frames are
    /// [`FRAME`] long).
    near_wave: [f32; NEAR_FRAMES * FRAME],
    /// Gain control runs after the canceller: its output may be louder than the
    /// microphone, so that is no sign of anything.
    gain_control: bool,
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
            lost: 0,
            near_wave: [0.0; NEAR_FRAMES * FRAME],
            gain_control: false,
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
    /// The gate for a processor that runs gain control after the canceller or not.
    pub(crate) fn new(gain_control: bool) -> Self {
        WarmUp {
            gain_control,
            ..WarmUp::default()
        }
    }

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
        if near.len() == FRAME {
            self.near_wave.copy_within(FRAME.., 0);
            self.near_wave[(NEAR_FRAMES - 1) * FRAME..].copy_from_slice(near);
        } else {
            self.near_wave.fill(0.0);
        }
    }

    /// How much `out` is the microphone's waveform: the best correlation with the recent
    /// microphone samples over the processor's possible delays.
    fn same_wave(&self, out: &[f32]) -> f32 {
        if out.len() != FRAME {
            return 0.0;
        }
        let oo: f32 = out.iter().map(|x| x * x).sum();
        let end = (NEAR_FRAMES - 1) * FRAME;
        (0..=MAX_DELAY)
            .map(|lag| {
                let near = &self.near_wave[end - lag..end - lag + FRAME];
                let (mut on, mut nn) = (0.0f32, 0.0f32);
                for (o, n) in out.iter().zip(near) {
                    on += o * n;
                    nn += n * n;
                }
                on / (oo * nn).sqrt().max(1e-12)
            })
            .fold(0.0, f32::max)
    }

    /// Opens the window of a glitch when the canceller is seen to have lost the echo:
    /// little removed (`level` against the microphone's recent `near`) from a microphone
    /// holding no more than the echo, by the level and waveform rules in the module docs.
    fn notice_lost(&mut self, level: f32, near: f32, out: &[f32]) {
        let Some(echo_gain) = self.echo_gain else {
            return;
        };
        let echo = self.far_peak * echo_gain;
        let only_echo = near <= echo * db_to_power(ECHO_ROOM_DB) && near > AUDIBLE;
        if !only_echo || level * db_to_power(LOST_DB) <= near {
            self.lost = 0;
            return;
        }
        self.lost += 1;
        let nothing_removed = level * db_to_power(NOTHING_DB) > near;
        // In the warm-up a canceller that has not converged yet also passes the microphone
        // through while someone talks over the echo: there only the level tells. After
        // it, one that has the echo leaves the voice of someone talking over it as loud
        // as the microphone: there only the waveform tells, and only when it is the
        // microphone's own almost exactly (a voice 6 dB over the echo already makes 0.9).
        let by_level = nothing_removed && self.lost >= LOST_FRAMES;
        let lost = if self.active < WARM_UP_FRAMES {
            by_level
        } else {
            self.same_wave(out) >= SAME_WAVE
        };
        if lost && self.realign == 0 {
            self.realign = REALIGN_FRAMES;
        }
        if !nothing_removed && !lost {
            self.lost = 0;
        }
    }

    /// Gates the processed frame.
    pub(crate) fn gate(&mut self, out: &mut [f32]) {
        let playing = self.hold > 0;
        self.hold = self.hold.saturating_sub(1);
        let mut cut = false;
        if playing {
            let near = self.near.iter().copied().fold(0.0, f32::max);
            let quiet = self.near.iter().copied().fold(f32::MAX, f32::min);
            let now = self.near[NEAR_FRAMES - 1];
            let level = mean_square(out);
            if self.active < WARM_UP_FRAMES {
                self.active += 1;
                cut |= level * db_to_power(REMOVED_DB) <= near;
            } else {
                cut |= level * db_to_power(RESIDUE_DB) <= now;
            }
            if !self.gain_control {
                // Louder than anything the microphone heard: the canceller's own.
                cut |= level > near * db_to_power(ADDED_DB);
                self.notice_lost(level, near, out);
            }
            if self.realign > 0 {
                self.realign -= 1;
                let echo = self.far_peak * self.echo_gain.unwrap_or(1.0);
                cut |= level <= echo * db_to_power(ECHO_MARGIN_DB);
            } else if level * db_to_power(ECHO_ONLY_DB) <= quiet && self.far_peak > 0.0 {
                // Echo alone (a glitch's window would teach a misaligned level), judged
                // against the quietest recent microphone frame too, and learned from the
                // middle one: the output lags the microphone by the processor's delay, so
                // at the onset of a voice it is still quiet, and that is not the canceller
                // removing anything.
                // The loudest echo seen, slowly forgotten (pauses, where the microphone
                // hears little, would pull an average down).
                let mut recent = self.near;
                recent.sort_by(f32::total_cmp);
                let sample = recent[NEAR_FRAMES / 2] / self.far_peak;
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
mod tests;
