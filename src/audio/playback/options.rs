//! Options of [`Playback::open`](super::Playback::open) and [`stream`](super::stream).

use std::time::Duration;

use super::output::OutputTarget;
use crate::Error;
use crate::realtime::EventSender;

/// Options of [`Playback::open`](super::Playback::open) and [`stream`](super::stream).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `sender` | `None` | the session's sender, for barge-in (truncate and cancel); playback keeps only a [`WeakEventSender`](crate::realtime::WeakEventSender), so it never holds the connection open |
/// | `barge_in` | `true` | interrupt playback when the server hears the user start speaking; over WebRTC, ask the server to clear its playout (`output_audio_buffer.clear`, and `response.cancel` when it does not cancel itself) and clear when it says `output_audio_buffer.cleared` |
/// | `target` | [`OutputTarget::Default`] | the device, or a WAV file |
/// | `sample_rate` | device default | ask the device for this rate |
/// | `buffer_frames` | the smallest the device accepts, at least 5 ms; doubled (up to 20 ms) when the device keeps running dry | the device period, in frames: each callback takes a whole one, so the start of an item waits for up to one, and is held back by one (see `prebuffer`); shorter is sooner, but a starved machine makes short ones run dry. Left unset, playback adapts: after the device reports a second underrun within 30 s (`PlaybackMetrics::device_underruns`) it reopens the output with twice the period the next time nothing plays or is due, keeping everything queued and every position. Set, the period stays as asked |
/// | `volume` | `1.0` | gain applied in the callback |
/// | `prebuffer` | 0 | how long the start of an item is held after its first audio arrives, on top of what deltas arriving just in time need to leave no gap (the resampler's delay, 2.5–3.5 ms, plus one device period, plus 1 ms to spare): more absorbs that much jitter in their arrival; at most 10 s. It adapts: after an underrun playback adds a cushion of how late the audio came plus 3 ms (up to 200 ms in all) to it for the rest of the session, and after audio that came with less than 1 ms to spare (a near miss, once an item), enough for 3 ms to spare |
/// | `max_queued` | 10 min | audio waiting to be played; beyond it new audio is dropped and counted; 1 s to 1 h |
/// | `forward_audio` | `false` | also pass `response.output_audio.delta` events on to you |
/// | `event_capacity` | 256 | events waiting in the returned receiver; when it is full, the stream stops reading the connection (audio stops arriving too) until you read |
///
/// ```
/// use std::time::Duration;
/// use vivavoce::audio::{OutputTarget, PlaybackOptions};
///
/// let options = PlaybackOptions::default()
///     .target(OutputTarget::wav("reply.wav"))
///     .volume(0.8)
///     .prebuffer(Duration::from_millis(60));
/// assert!(options.barge_in);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct PlaybackOptions {
    /// The session's sender, used for barge-in.
    pub sender: Option<EventSender>,
    /// Interrupt playback on `input_audio_buffer.speech_started`.
    pub barge_in: bool,
    /// Where to play.
    pub target: OutputTarget,
    /// Device sample rate to ask for.
    pub sample_rate: Option<u32>,
    /// Device period in frames.
    pub buffer_frames: Option<u32>,
    /// Initial volume.
    pub volume: f32,
    /// How long the start of an item is held for jitter.
    pub prebuffer: Duration,
    /// Most audio waiting to be played.
    pub max_queued: Duration,
    /// Pass audio deltas on as well.
    pub forward_audio: bool,
    /// Capacity of the returned event channel.
    pub event_capacity: usize,
}

impl Default for PlaybackOptions {
    fn default() -> Self {
        PlaybackOptions {
            sender: None,
            barge_in: true,
            target: OutputTarget::Default,
            sample_rate: None,
            buffer_frames: None,
            volume: 1.0,
            prebuffer: Duration::ZERO,
            max_queued: Duration::from_secs(600),
            forward_audio: false,
            event_capacity: 256,
        }
    }
}

impl PlaybackOptions {
    /// Options with the session's sender, so barge-in can truncate and cancel.
    pub fn new(sender: EventSender) -> Self {
        PlaybackOptions {
            sender: Some(sender),
            ..PlaybackOptions::default()
        }
    }

    /// Sets `barge_in`.
    pub fn barge_in(mut self, on: bool) -> Self {
        self.barge_in = on;
        self
    }

    /// Sets `target`.
    pub fn target(mut self, target: OutputTarget) -> Self {
        self.target = target;
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

    /// Sets `volume`.
    pub fn volume(mut self, volume: f32) -> Self {
        self.volume = volume;
        self
    }

    /// Sets `prebuffer`.
    pub fn prebuffer(mut self, prebuffer: Duration) -> Self {
        self.prebuffer = prebuffer;
        self
    }

    /// Sets `max_queued`.
    pub fn max_queued(mut self, max: Duration) -> Self {
        self.max_queued = max;
        self
    }

    /// Sets `forward_audio`.
    pub fn forward_audio(mut self, on: bool) -> Self {
        self.forward_audio = on;
        self
    }

    /// Sets `event_capacity`.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |option, message: &str| {
            Err(Error::InvalidOption {
                option,
                message: message.to_owned(),
            })
        };
        if !(0.0..=4.0).contains(&self.volume) {
            return bad("volume", "must be between 0.0 and 4.0");
        }
        if self.event_capacity == 0 {
            return bad("event_capacity", "must be at least 1");
        }
        if self.max_queued < Duration::from_secs(1) || self.max_queued > Duration::from_secs(3600) {
            return bad("max_queued", "must be between 1 s and 1 h");
        }
        if self.prebuffer > Duration::from_secs(10) {
            return bad("prebuffer", "must be at most 10 s");
        }
        if self.sample_rate == Some(0) {
            return bad("sample_rate", "must be above 0");
        }
        if self.buffer_frames == Some(0) {
            return bad("buffer_frames", "must be above 0");
        }
        Ok(())
    }
}
