//! Native audio for Realtime sessions (feature `audio`).
//!
//! [`Playback::open`] opens an output device (or a WAV file), [`Playback::attach`] plays a
//! session's audio on it and hands back the other events, and [`stream`] does both; the
//! [`Playback`] handle stops, drains, clears, interrupts, pauses and reports. The device
//! callback only reads a lock-free ring and writes atomics: decoding, resampling (rubato's
//! FFT resampler) and bookkeeping happen on a playback thread.
//!
//! [`capture_audio`] streams the microphone into the session through resampling and
//! echo cancellation, with what the device played ([`Playback::echo_reference`]) as the
//! far end, so the assistant does not hear itself; [`PushToTalk`] drives it by hand.

mod capture;
mod clock;
mod device;
mod playback;
mod priority;
mod resample;

/// The session's audio rate: what playback decodes from and capture sends, and the echo
/// canceller's rate (Hz).
pub const RATE: u32 = 24_000;
/// Samples in the echo canceller's frame and the echo reference's: 10 ms at [`RATE`].
pub const FRAME: usize = 240;

#[cfg(feature = "aec-webrtc")]
pub use capture::WebRtcProcessor;
pub use capture::{
    AudioProcessor, Capture, CaptureMetrics, CaptureOptions, InputInfo, InputSource, Level,
    PassThrough, Processing, ProcessingOptions, PushToTalk, SonoraProcessor, capture_audio,
};
pub use device::{DeviceFormat, DeviceInfo, devices};
pub use playback::{
    EchoReference, Interruption, ItemPosition, OutputInfo, OutputTarget, Playback, PlaybackMetrics,
    PlaybackOptions, PlaybackPositions, ReferenceFrame, stream,
};

/// Internals exposed for the benchmarks in `benches/`; not part of the API.
#[doc(hidden)]
pub mod bench {
    use std::sync::Arc;
    use std::time::Duration;

    use super::clock::Mark;
    use super::playback::{Renderer, Shared};
    use super::resample::Converter;

    /// A device callback fed from a ring, as the device would run it.
    #[allow(missing_debug_implementations)]
    pub struct Callback {
        renderer: Renderer,
        tx: rtrb::Producer<f32>,
        _tap: rtrb::Consumer<f32>,
        _marks: rtrb::Consumer<Mark>,
    }

    impl Callback {
        /// A callback writing `channels` channels.
        pub fn new(channels: usize) -> Self {
            let (tx, rx) = rtrb::RingBuffer::new(96_000);
            let (tap_tx, tap) = rtrb::RingBuffer::new(1);
            let (marks_tx, marks) = rtrb::RingBuffer::new(1);
            let shared = Arc::new(Shared::new(1.0));
            Callback {
                renderer: Renderer::new(rx, shared, channels, 48_000, tap_tx, marks_tx),
                tx,
                _tap: tap,
                _marks: marks,
            }
        }

        /// Tops the ring up with a tone.
        pub fn refill(&mut self) {
            let n = self.tx.slots();
            if let Ok(chunk) = self.tx.write_chunk_uninit(n) {
                chunk.fill_from_iter((0..).map(|i| ((i % 100) as f32 / 100.0) - 0.5));
            }
        }

        /// One callback into an f32 buffer.
        pub fn render_f32(&mut self, out: &mut [f32]) {
            self.renderer.render(out, Duration::ZERO);
        }

        /// One callback into an i16 buffer.
        pub fn render_i16(&mut self, out: &mut [i16]) {
            self.renderer.render(out, Duration::ZERO);
        }
    }

    /// The playback resampler glue.
    #[derive(Debug)]
    pub struct Resample(Converter);

    impl Resample {
        /// From `from` Hz to `to` Hz, as playback converts (fixed output).
        pub fn new(from: u32, to: u32) -> Self {
            Resample(Converter::new(from, to).expect("valid rates"))
        }

        /// From `from` Hz to `to` Hz, as capture converts (fixed input).
        pub fn capture(from: u32, to: u32) -> Self {
            Resample(Converter::fixed_input(from, to).expect("valid rates"))
        }

        /// Converts, appending to `out`.
        pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
            self.0.push(input, out);
        }

        /// The resampler delay in output frames.
        pub fn delay_frames(&self) -> usize {
            self.0.delay_frames()
        }
    }
}

#[cfg(test)]
mod tests {
    /// The handles can move between tasks and threads.
    fn _assert_impls() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::Playback>();
        send_sync::<super::Capture>();
        send_sync::<super::PushToTalk>();
        fn send<T: Send>() {}
        send::<super::EchoReference>();
    }
}
