//! The audio processor between the microphone and the session: echo cancellation with
//! the playback as far end, and optional noise suppression, gain control and high-pass.
//!
//! Everything runs on 10 ms frames of 24 kHz mono ([`FRAME`] samples at [`RATE`],
//! −1.0 ..= 1.0).

use super::warm_up::WarmUp;
use crate::Error;
use crate::audio::resample::Converter;
use crate::audio::{FRAME, RATE};

/// One audio processor: told what the speaker played, it cleans what the microphone heard.
///
/// Call [`render`](Self::render) with each far-end frame as it is played, and
/// [`capture`](Self::capture) with each microphone frame after the render frames played
/// before it were given. Implement it to plug in your own processing.
pub trait AudioProcessor: Send {
    /// A far-end (played) frame of [`FRAME`] samples.
    fn render(&mut self, far: &[f32]) -> Result<(), Error>;
    /// Processes a near-end (microphone) frame of [`FRAME`] samples in place.
    fn capture(&mut self, near: &mut [f32]) -> Result<(), Error>;
    /// A hint of how far the far end leads the near end, in ms (`(play − render call)
    /// + (capture call − capture)`); processors that find it themselves may ignore it.
    fn set_delay_ms(&mut self, _ms: u32) {}
    /// The far end skipped: the output device ran dry (a device underrun), and the echo
    /// path may have moved against the far-end frames. An echo canceller then leaks, or
    /// cancels nothing, until it finds the new delay; the built-in processors hold back
    /// echo-like frames for a while. The default does nothing.
    fn far_end_skipped(&mut self) {}
    /// The processor's name, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// What the built-in processors do. Echo cancellation and high-pass are on by default;
/// noise suppression and gain control are off (the Realtime API has its own
/// `noise_reduction`, and gain control changes what its VAD hears).
///
/// ```
/// use vivavoce::audio::ProcessingOptions;
/// let opts = ProcessingOptions::default().noise_suppression(true);
/// assert!(opts.echo_cancellation && opts.noise_suppression && !opts.gain_control);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessingOptions {
    /// Acoustic echo cancellation (AEC3) against the playback reference.
    pub echo_cancellation: bool,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Automatic gain control (adaptive digital).
    pub gain_control: bool,
    /// High-pass filter (removes rumble and DC).
    pub high_pass_filter: bool,
}

impl Default for ProcessingOptions {
    fn default() -> Self {
        ProcessingOptions {
            echo_cancellation: true,
            noise_suppression: false,
            gain_control: false,
            high_pass_filter: true,
        }
    }
}

impl ProcessingOptions {
    /// Sets `echo_cancellation`.
    #[must_use]
    pub fn echo_cancellation(mut self, on: bool) -> Self {
        self.echo_cancellation = on;
        self
    }
    /// Sets `noise_suppression`.
    #[must_use]
    pub fn noise_suppression(mut self, on: bool) -> Self {
        self.noise_suppression = on;
        self
    }
    /// Sets `gain_control`.
    #[must_use]
    pub fn gain_control(mut self, on: bool) -> Self {
        self.gain_control = on;
        self
    }
    /// Sets `high_pass_filter`.
    #[must_use]
    pub fn high_pass_filter(mut self, on: bool) -> Self {
        self.high_pass_filter = on;
        self
    }
}

/// Passes audio through untouched: for headsets, where there is no echo.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl AudioProcessor for PassThrough {
    fn render(&mut self, _far: &[f32]) -> Result<(), Error> {
        Ok(())
    }
    fn capture(&mut self, _near: &mut [f32]) -> Result<(), Error> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "pass-through"
    }
}

/// The default processor: sonora, a pure-Rust port of WebRTC's audio processing module
/// (AEC3, noise suppression, AGC2, high-pass).
///
/// sonora processes at 32 kHz. Its own conversion of 24 kHz frames to that rate left
/// echo through at the start of a reply (up to 25 dB more residual
/// echo, enough for a server VAD to hear the assistant), where the same audio converted
/// beforehand is cancelled. So both sides go through this crate's converters, which share
/// one design and so one delay, and the result comes back to 24 kHz. That adds
/// 12.5 ms to the capture path (unit-tested).
///
/// With echo cancellation on, a gate behind the canceller turns echo residue down by
/// 40 dB while the far end plays (see the `warm_up` module): in the canceller's first 5 s
/// of far end, a frame it made at least 6 dB quieter than the microphone; after that, one
/// it made at least 15 dB quieter (a voice more than 15 dB under the echo waits for the
/// assistant's pause). The user talking over the assistant is left alone. After a
/// playback underrun ([`AudioProcessor::far_end_skipped`], told once per glitch), which
/// can move the echo path so that the canceller removes nothing for about a second, it
/// also turns down, for 3 s of far end, every frame no more than 10 dB louder than the
/// echo it has learnt to expect: only a voice clearly louder than the echo gets through
/// then. The same window opens when the canceller is seen losing the echo with no glitch
/// told (its output the microphone's own sound from a microphone holding only echo), and
/// while the far end plays, output louder than anything the microphone heard is taken
/// for the canceller's own and turned down.
pub struct SonoraProcessor {
    apm: sonora::AudioProcessing,
    inner: Inner,
    out: Vec<f32>,
    /// With echo cancellation: the gate for its weak moments (see [`WarmUp`]).
    warm_up: Option<WarmUp>,
}

/// The rate sonora processes at: a native rate of WebRTC's module, so it converts nothing.
const INNER_RATE: u32 = 32_000;
/// A 10 ms frame at [`INNER_RATE`].
const INNER_FRAME: usize = INNER_RATE as usize / 100;

/// Conversion around sonora (see [`SonoraProcessor`]).
struct Inner {
    far_up: Converter,
    near_up: Converter,
    down: Converter,
    /// Far-end and near-end audio at [`INNER_RATE`] waiting for a whole frame.
    far: Vec<f32>,
    near: Vec<f32>,
    /// Processed audio back at [`RATE`], waiting to be handed out.
    done: Vec<f32>,
}

impl Inner {
    fn new() -> Self {
        // Fixed rates: this either always works or never does, and every test that makes
        // a SonoraProcessor shows that it does.
        let converter = |from, to| Converter::fixed_input(from, to).expect("24 <-> 32 kHz");
        let cap = 2 * INNER_FRAME;
        Inner {
            far_up: converter(RATE, INNER_RATE),
            near_up: converter(RATE, INNER_RATE),
            down: converter(INNER_RATE, RATE),
            far: Vec::with_capacity(cap),
            near: Vec::with_capacity(cap),
            done: Vec::with_capacity(2 * FRAME),
        }
    }
}

/// Runs `f` on each whole [`INNER_FRAME`] at the front of `buf`, then drops them.
fn whole_frames(
    buf: &mut Vec<f32>,
    mut f: impl FnMut(&[f32]) -> Result<(), Error>,
) -> Result<(), Error> {
    let whole = buf.len() / INNER_FRAME * INNER_FRAME;
    let result = buf[..whole].chunks_exact(INNER_FRAME).try_for_each(&mut f);
    buf.drain(..whole);
    result
}

impl std::fmt::Debug for SonoraProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SonoraProcessor").finish_non_exhaustive()
    }
}

impl SonoraProcessor {
    /// A processor doing what `options` asks.
    pub fn new(options: ProcessingOptions) -> Self {
        use sonora::config::{EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
        let config = sonora::Config {
            echo_canceller: options.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: options.noise_suppression.then(NoiseSuppression::default),
            gain_controller2: options.gain_control.then(GainController2::default),
            high_pass_filter: options.high_pass_filter.then(HighPassFilter::default),
            ..Default::default()
        };
        let stream = sonora::StreamConfig::new(INNER_RATE, 1);
        let apm = sonora::AudioProcessing::builder()
            .config(config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        SonoraProcessor {
            apm,
            inner: Inner::new(),
            out: vec![0.0; INNER_FRAME],
            warm_up: options
                .echo_cancellation
                .then(|| WarmUp::new(options.gain_control)),
        }
    }
}

fn frame_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::AudioDevice {
        device: "audio processor".into(),
        message: format!("{what}: {e:?}"),
    }
}

impl AudioProcessor for SonoraProcessor {
    fn render(&mut self, far: &[f32]) -> Result<(), Error> {
        if let Some(w) = self.warm_up.as_mut() {
            w.far(far);
        }
        let (apm, out, inner) = (&mut self.apm, &mut self.out, &mut self.inner);
        inner.far_up.push(far, &mut inner.far);
        whole_frames(&mut inner.far, |frame| {
            apm.process_render_f32(&[frame], &mut [&mut out[..]])
                .map_err(|e| frame_error("render frame", e))
        })
    }

    fn capture(&mut self, near: &mut [f32]) -> Result<(), Error> {
        if let Some(w) = self.warm_up.as_mut() {
            w.near(near);
        }
        self.process_capture(near)?;
        if let Some(w) = self.warm_up.as_mut() {
            w.gate(near);
        }
        Ok(())
    }

    fn set_delay_ms(&mut self, ms: u32) {
        let _ = self.apm.set_stream_delay_ms(ms.min(500) as i32);
    }

    fn far_end_skipped(&mut self) {
        if let Some(w) = self.warm_up.as_mut() {
            w.rearm();
        }
    }

    fn name(&self) -> &'static str {
        "sonora"
    }
}

impl SonoraProcessor {
    fn process_capture(&mut self, near: &mut [f32]) -> Result<(), Error> {
        let (apm, out, inner) = (&mut self.apm, &mut self.out, &mut self.inner);
        inner.near_up.push(near, &mut inner.near);
        let (down, done) = (&mut inner.down, &mut inner.done);
        whole_frames(&mut inner.near, |frame| {
            apm.process_capture_f32(&[frame], &mut [&mut out[..]])
                .map_err(|e| frame_error("capture frame", e))?;
            down.push(out, done);
            Ok(())
        })?;
        // Until the converters have filled, the frame starts with silence; from then on
        // every frame in gives one out, a fixed delay behind.
        let n = near.len();
        let ready = inner.done.len().min(n);
        near[..n - ready].fill(0.0);
        near[n - ready..].copy_from_slice(&inner.done[..ready]);
        inner.done.drain(..ready);
        Ok(())
    }
}

/// Google's C++ WebRTC audio processing module (AEC3, noise suppression, AGC2,
/// high-pass), through the `webrtc-audio-processing` crate. Feature `aec-webrtc`; building
/// it needs meson ≥ 1.1, ninja, cmake, libclang and abseil ≥ 20240722 —
/// `scripts/webrtc-deps.sh` installs them on Debian and prints the environment to build
/// with.
///
/// It has the same gate as [`SonoraProcessor`]. Known limit: where its canceller
/// removes nothing yet (the first word of the first reply, at some echo delays), echo
/// and the user cannot be told apart by level, and up to −36 dBFS of echo from a 0 dB
/// echo path can still get through; `SonoraProcessor` holds it below −50 dBFS.
#[cfg(feature = "aec-webrtc")]
pub struct WebRtcProcessor {
    apm: webrtc_audio_processing::Processor,
    config: webrtc_audio_processing::Config,
    delay: Option<u16>,
    buf: [Vec<f32>; 1],
    /// With echo cancellation: the gate for its weak moments (see [`WarmUp`]).
    warm_up: Option<WarmUp>,
}

#[cfg(feature = "aec-webrtc")]
impl std::fmt::Debug for WebRtcProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcProcessor").finish_non_exhaustive()
    }
}

#[cfg(feature = "aec-webrtc")]
impl WebRtcProcessor {
    /// A processor doing what `options` asks.
    pub fn new(options: ProcessingOptions) -> Result<Self, Error> {
        use webrtc_audio_processing::config::{
            AdaptiveDigital, EchoCanceller, GainController, GainController2, HighPassFilter,
            NoiseSuppression,
        };
        let apm = webrtc_audio_processing::Processor::new(RATE)
            .map_err(|e| frame_error("creating the WebRTC processor", e))?;
        let config = webrtc_audio_processing::Config {
            echo_canceller: options.echo_cancellation.then_some(EchoCanceller::Full {
                stream_delay_ms: None,
            }),
            // The crate does not enforce the high-pass for AEC3: it is asked for here.
            high_pass_filter: options.high_pass_filter.then(HighPassFilter::default),
            noise_suppression: options.noise_suppression.then(NoiseSuppression::default),
            gain_controller: options.gain_control.then(|| {
                GainController::GainController2(GainController2 {
                    adaptive_digital: Some(AdaptiveDigital::default()),
                    ..GainController2::default()
                })
            }),
            ..Default::default()
        };
        apm.set_config(config);
        Ok(WebRtcProcessor {
            apm,
            config,
            delay: None,
            buf: [vec![0.0; FRAME]],
            warm_up: options
                .echo_cancellation
                .then(|| WarmUp::new(options.gain_control)),
        })
    }

    fn load(&mut self, x: &[f32]) -> Result<(), Error> {
        // The C++ side asserts the frame length: check it here instead of panicking.
        if x.len() != FRAME {
            return Err(frame_error(
                "frame length",
                format!("{} samples, not {FRAME}", x.len()),
            ));
        }
        self.buf[0].copy_from_slice(x);
        Ok(())
    }
}

#[cfg(feature = "aec-webrtc")]
impl AudioProcessor for WebRtcProcessor {
    fn render(&mut self, far: &[f32]) -> Result<(), Error> {
        if let Some(w) = self.warm_up.as_mut() {
            w.far(far);
        }
        self.load(far)?;
        self.apm
            .process_render_frame(&mut self.buf)
            .map_err(|e| frame_error("render frame", e))
    }

    fn capture(&mut self, near: &mut [f32]) -> Result<(), Error> {
        self.load(near)?;
        if let Some(w) = self.warm_up.as_mut() {
            w.near(near);
        }
        self.apm
            .process_capture_frame(&mut self.buf)
            .map_err(|e| frame_error("capture frame", e))?;
        near.copy_from_slice(&self.buf[0]);
        if let Some(w) = self.warm_up.as_mut() {
            w.gate(near);
        }
        Ok(())
    }

    fn set_delay_ms(&mut self, ms: u32) {
        let ms = ms.min(500) as u16;
        if self.delay == Some(ms) || self.config.echo_canceller.is_none() {
            return;
        }
        self.delay = Some(ms);
        self.config.echo_canceller = Some(webrtc_audio_processing::config::EchoCanceller::Full {
            stream_delay_ms: Some(ms),
        });
        self.apm.set_config(self.config);
    }

    fn far_end_skipped(&mut self) {
        if let Some(w) = self.warm_up.as_mut() {
            w.rearm();
        }
    }

    fn name(&self) -> &'static str {
        "webrtc"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_leaves_audio_alone() {
        let mut p = PassThrough;
        let mut x = [0.25f32; FRAME];
        p.render(&x.clone()).unwrap();
        p.capture(&mut x).unwrap();
        assert_eq!(x, [0.25; FRAME]);
    }

    #[test]
    fn sonora_without_a_far_end_keeps_the_near_end() {
        // No echo to remove: a tone passes with its level (high-pass leaves 440 Hz).
        let mut p = SonoraProcessor::new(ProcessingOptions::default());
        let mut energy_in = 0.0f64;
        let mut energy_out = 0.0f64;
        for f in 0..300 {
            let mut x: Vec<f32> = (0..FRAME)
                .map(|i| {
                    let t = (f * FRAME + i) as f32 / RATE as f32;
                    (t * 440.0 * std::f32::consts::TAU).sin() * 0.3
                })
                .collect();
            p.render(&[0.0; FRAME]).unwrap();
            let before: f64 = x.iter().map(|v| f64::from(*v).powi(2)).sum();
            p.capture(&mut x).unwrap();
            if f >= 100 {
                energy_in += before;
                energy_out += x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
            }
        }
        let db = 10.0 * (energy_out / energy_in).log10();
        assert!(db.abs() < 1.0, "near end changed by {db:.2} dB");
    }

    #[test]
    fn sonora_delays_the_near_end_by_a_fixed_few_milliseconds() {
        // Noise in, nothing enabled: what comes out is the input, a fixed delay later
        // (the conversions to 32 kHz and back).
        let mut p = SonoraProcessor::new(
            ProcessingOptions::default()
                .echo_cancellation(false)
                .high_pass_filter(false),
        );
        let mut seed = 7u32;
        let input: Vec<f32> = (0..100 * FRAME)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let mut output = input.clone();
        for frame in output.chunks_mut(FRAME) {
            p.capture(frame).unwrap();
        }
        let corr = |lag: usize| -> f64 {
            let n = input.len() - lag - FRAME;
            let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
            for i in FRAME..n {
                let (x, y) = (f64::from(input[i]), f64::from(output[i + lag]));
                xy += x * y;
                xx += x * x;
                yy += y * y;
            }
            xy / (xx * yy).sqrt()
        };
        let (lag, best) = (0..2 * FRAME)
            .map(|lag| (lag, corr(lag)))
            .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
        // Band-limited by the conversions, so not quite 1.
        assert!(
            best > 0.9,
            "output is not the input delayed: {best:.3} at {lag}"
        );
        let ms = lag as f64 * 1000.0 / f64::from(RATE);
        assert!(ms <= 15.0, "{ms:.1} ms of delay");
        eprintln!("near end delayed {lag} samples ({ms:.1} ms), correlation {best:.3}");
    }
}
