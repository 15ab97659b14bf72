//! Options of [`capture_audio`](super::capture_audio).

use std::time::Duration;

use super::input::InputSource;
use super::processor::{AudioProcessor, ProcessingOptions};
use crate::Error;
use crate::audio::EchoReference;
use crate::realtime::events::AudioFormat;

/// Which audio processor capture uses.
#[non_exhaustive]
pub enum Processing {
    /// The built-in processor (sonora's AEC3 and friends), doing what the options say.
    Default(ProcessingOptions),
    /// No processing, for headsets.
    PassThrough,
    /// The C++ WebRTC module (feature `aec-webrtc`), doing what the options say.
    #[cfg(feature = "aec-webrtc")]
    WebRtc(ProcessingOptions),
    /// Your own.
    Custom(Box<dyn AudioProcessor>),
}

impl std::fmt::Debug for Processing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Processing::Default(o) => f.debug_tuple("Default").field(o).finish(),
            Processing::PassThrough => f.write_str("PassThrough"),
            #[cfg(feature = "aec-webrtc")]
            Processing::WebRtc(o) => f.debug_tuple("WebRtc").field(o).finish(),
            Processing::Custom(p) => write!(f, "Custom({})", p.name()),
        }
    }
}

/// Options of [`capture_audio`](super::capture_audio).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `source` | [`InputSource::Default`] | the microphone, another device, or a WAV file |
/// | `sample_rate` | device default | ask the device for this rate |
/// | `buffer_frames` | device default | the device period, in frames: the audio each callback delivers; capture waits for a whole one, so shorter is sooner, but a busy machine makes very short ones overrun, and the echo canceller keeps up less well with them |
/// | `interval` | 20 ms | audio per `input_audio_buffer.append`: shorter means lower latency (the server hears you sooner, its VAD reacts sooner) and more events (50 a second at 20 ms, each ≈ 1.3 kB of base64 PCM16); longer means fewer, larger events and that much more delay on every turn |
/// | `format` | PCM16 | the session's input format: PCM16, or G.711 μ-law/A-law (8 kHz) |
/// | `processing` | echo cancellation + high-pass | see [`ProcessingOptions`] |
/// | `reference` | `None` | the far end: [`Playback::echo_reference`](crate::audio::Playback::echo_reference); without it the echo canceller has nothing to cancel |
/// | `start_paused` | `false` | start without sending (push-to-talk) |
///
/// ```
/// use std::time::Duration;
/// use vivavoce::audio::{CaptureOptions, InputSource};
///
/// let options = CaptureOptions::default()
///     .source(InputSource::Wav("question.wav".into()))
///     .interval(Duration::from_millis(40));
/// assert_eq!(options.interval, Duration::from_millis(40));
/// ```
///
/// With playback, the echo canceller's far end:
///
/// ```no_run
/// # async fn run(playback: vivavoce::audio::Playback) {
/// use vivavoce::audio::CaptureOptions;
/// let options = CaptureOptions::default().reference(playback.echo_reference());
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
#[must_use]
pub struct CaptureOptions {
    /// Where to record.
    pub source: InputSource,
    /// Device sample rate to ask for.
    pub sample_rate: Option<u32>,
    /// Device period in frames (`None`: the device's default).
    pub buffer_frames: Option<u32>,
    /// Audio per append event.
    pub interval: Duration,
    /// The session's input audio format.
    pub format: AudioFormat,
    /// The audio processor.
    pub processing: Processing,
    /// The far-end reference from playback.
    pub reference: Option<EchoReference>,
    /// Start paused (nothing sent until [`Capture::resume`](super::Capture::resume)).
    pub start_paused: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            source: InputSource::Default,
            sample_rate: None,
            buffer_frames: None,
            interval: Duration::from_millis(20),
            format: AudioFormat::Pcm { rate: None },
            processing: Processing::Default(ProcessingOptions::default()),
            reference: None,
            start_paused: false,
        }
    }
}

impl CaptureOptions {
    /// Sets `source`.
    pub fn source(mut self, source: InputSource) -> Self {
        self.source = source;
        self
    }
    /// Sets `sample_rate`.
    pub fn sample_rate(mut self, rate: u32) -> Self {
        self.sample_rate = Some(rate);
        self
    }
    /// Sets `buffer_frames`.
    pub fn buffer_frames(mut self, frames: u32) -> Self {
        self.buffer_frames = Some(frames);
        self
    }
    /// Sets `interval`.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// Sets `format`.
    pub fn format(mut self, format: AudioFormat) -> Self {
        self.format = format;
        self
    }
    /// Sets `processing`.
    pub fn processing(mut self, processing: Processing) -> Self {
        self.processing = processing;
        self
    }
    /// Sets `reference`: takes [`Playback::echo_reference`](crate::audio::Playback::echo_reference)'s
    /// `Option` as it is, or an [`EchoReference`].
    pub fn reference(mut self, reference: impl Into<Option<EchoReference>>) -> Self {
        self.reference = reference.into();
        self
    }
    /// Sets `start_paused`.
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }
}

impl CaptureOptions {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.interval < Duration::from_millis(10) || self.interval > Duration::from_secs(60) {
            return Err(Error::InvalidOption {
                option: "interval",
                message: "must be between 10 ms and 60 s".into(),
            });
        }
        if self.sample_rate == Some(0) {
            return Err(Error::InvalidOption {
                option: "sample_rate",
                message: "must be above 0".into(),
            });
        }
        if self.buffer_frames == Some(0) {
            return Err(Error::InvalidOption {
                option: "buffer_frames",
                message: "must be above 0".into(),
            });
        }
        Ok(())
    }
}
