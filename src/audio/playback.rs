//! The [`Playback`] handle and its options.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::feeder::{Control, Interruption, Msg};
use super::output::{OutputInfo, OutputTarget};
use super::position::ItemPosition;
use super::reference::EchoReference;
use crate::Error;
use crate::realtime::EventSender;
use crate::realtime::events::{ConversationItemTruncate, ResponseCancel};

/// Options of [`stream`](super::stream).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `sender` | `None` | the session's sender, for barge-in (truncate and cancel) |
/// | `barge_in` | `true` | interrupt playback when the server hears the user start speaking |
/// | `target` | [`OutputTarget::Default`] | the device, or a WAV file |
/// | `sample_rate` | device default | ask the device for this rate |
/// | `buffer_frames` | device default | the device period, in frames |
/// | `volume` | `1.0` | gain applied in the callback |
/// | `prebuffer` | 20 ms | how long the start of an item is held after its first audio arrives, on top of the resampler's delay (≈ 5–10 ms), so deltas arriving just in time (with up to this much jitter) leave no gaps; 0 gives the lowest latency |
/// | `max_queued` | 10 min | audio waiting to be played; beyond it new audio is dropped and counted |
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
            prebuffer: Duration::from_millis(20),
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
        if self.max_queued < Duration::from_secs(1) {
            return bad("max_queued", "must be at least 1 s");
        }
        if self.sample_rate == Some(0) || self.buffer_frames == Some(0) {
            return bad("sample_rate", "must be above 0");
        }
        Ok(())
    }
}

/// Playback counters, from [`Playback::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlaybackMetrics {
    /// Audio converted and waiting to be heard.
    pub queued: Duration,
    /// Audio the device callback has played since the start.
    pub played: Duration,
    /// Callbacks that ran out of audio in the middle of an item.
    pub underruns: u64,
    /// Device callbacks so far.
    pub callbacks: u64,
    /// Frames in the last device callback (the period).
    pub period_frames: u32,
    /// From a callback to its first frame leaving the device, as the device reports it.
    pub output_latency: Duration,
    /// The resampler's delay (the tail of each delta waits this long for the next).
    pub resampler_delay: Duration,
    /// For the last item that started from silence: from its first delta arriving to the
    /// device callback that played its first sample (includes the `prebuffer` hold).
    pub start_latency: Option<Duration>,
    /// The longest a callback has taken.
    pub max_callback: Duration,
    /// Audio dropped because `max_queued` was reached.
    pub dropped: Duration,
    /// Echo reference frames dropped because they were not read in time.
    pub reference_dropped: u64,
    /// The device stopped with an error.
    pub device_lost: bool,
}

/// Controls a playback started by [`stream`](super::stream).
///
/// Dropping it (or [`stop`](Playback::stop)) ends playback at once and releases the device.
pub struct Playback {
    pub(crate) control: Arc<Control>,
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) join: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) info: OutputInfo,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("output", &self.info)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Playback {
    /// The device (or file) and configuration playing.
    pub fn output(&self) -> &OutputInfo {
        &self.info
    }

    /// Ends playback now and releases the device. Idempotent.
    pub fn stop(&self) {
        self.control.shared.stop.store(true, Ordering::Release);
        self.control.wake();
        let join = self.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(j) = join {
            let _ = j.join();
        }
    }

    /// Resolves when everything handed to playback so far has been heard (or cleared).
    ///
    /// Call it after `response.done` to wait for the end of the spoken reply. Fails if the
    /// device stops first.
    pub async fn drain(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Drain(reply)).await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Stops the sound now: audio queued or still arriving for the current response is
    /// dropped; the next response plays normally. Takes effect within one device period.
    pub fn clear(&self) {
        let upto = self.control.seq.load(Ordering::Acquire);
        self.control
            .clear_upto
            .fetch_max(upto.max(1), Ordering::AcqRel);
        self.control.wake();
    }

    /// Clears playback like [`clear`](Self::clear) and tells the server what was heard:
    /// `conversation.item.truncate` at the played time (see
    /// [`Interruption::audio_end_ms`]) and, if the response is still in progress,
    /// `response.cancel`. For push-to-talk apps; with server VAD, barge-in does this.
    /// Returns what was cut, or `None` if nothing was playing.
    pub async fn interrupt(&self, sender: &EventSender) -> Result<Option<Interruption>, Error> {
        let cut = self.cut().await?;
        if let Some(cut) = &cut {
            send_interruption(sender, cut, true).await?;
        }
        Ok(cut)
    }

    pub(crate) async fn cut(&self) -> Result<Option<Interruption>, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Interrupt(reply)).await?;
        rx.await.map_err(|_| stopped())
    }

    /// Pauses: the device plays silence and the queue waits.
    pub fn pause(&self) {
        self.control.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.control.shared.paused.store(false, Ordering::Relaxed);
    }

    /// Whether playback is paused.
    pub fn is_paused(&self) -> bool {
        self.control.shared.paused.load(Ordering::Relaxed)
    }

    /// Sets the volume (1.0 = as received; clamped to 0.0 ..= 4.0).
    pub fn set_volume(&self, volume: f32) {
        let v = if volume.is_nan() {
            0.0
        } else {
            volume.clamp(0.0, 4.0)
        };
        self.control
            .shared
            .volume
            .store(v.to_bits(), Ordering::Relaxed);
    }

    /// The volume.
    pub fn volume(&self) -> f32 {
        self.control.shared.volume()
    }

    /// How much of an item has been heard, counted by the device callback to the sample.
    pub fn position(&self, item_id: &str) -> Option<ItemPosition> {
        let consumed = self.control.shared.consumed.load(Ordering::Acquire);
        let t = self
            .control
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        t.position(item_id, consumed, self.control.device_rate)
    }

    /// The far-end reference for an echo canceller: what the device played, at 24 kHz
    /// mono, with play times. The first call gets it; later calls get `None`.
    pub fn echo_reference(&self) -> Option<EchoReference> {
        self.control
            .reference
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Counters for UIs and logs.
    pub fn metrics(&self) -> PlaybackMetrics {
        let s = &*self.control.shared;
        let rate = u64::from(self.control.device_rate.max(1));
        let d = |frames: u64| Duration::from_nanos(frames * 1_000_000_000 / rate);
        let produced = s.produced.load(Ordering::Acquire);
        let consumed = s.consumed.load(Ordering::Acquire);
        PlaybackMetrics {
            queued: d(produced.saturating_sub(consumed)),
            played: d(s.heard.load(Ordering::Acquire)),
            underruns: s.underruns.load(Ordering::Relaxed),
            callbacks: s.callbacks.load(Ordering::Relaxed),
            period_frames: s.period.load(Ordering::Relaxed),
            output_latency: Duration::from_nanos(s.output_latency_ns.load(Ordering::Relaxed)),
            resampler_delay: d(self.control.resampler_delay),
            start_latency: {
                let hit = s.watch_hit_ns.load(Ordering::Acquire);
                let arrival = s.watch_arrival_ns.load(Ordering::Acquire);
                (hit >= arrival && hit > 0).then(|| Duration::from_nanos(hit - arrival))
            },
            max_callback: Duration::from_nanos(s.max_callback_ns.load(Ordering::Relaxed)),
            dropped: d(self.control.dropped.load(Ordering::Relaxed)),
            reference_dropped: s.tap_overflows.load(Ordering::Relaxed),
            device_lost: s.device_lost.load(Ordering::Relaxed),
        }
    }

    async fn send(&self, msg: Msg) -> Result<(), Error> {
        self.tx.send(msg).await.map_err(|_| stopped())?;
        self.control.wake();
        Ok(())
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stopped() -> Error {
    Error::AudioDevice {
        device: "playback".into(),
        message: "playback has stopped".into(),
    }
}

/// Sends the truncate (when something was heard) and, if asked and the response is still
/// in progress, the cancel.
pub(crate) async fn send_interruption(
    sender: &EventSender,
    cut: &Interruption,
    cancel: bool,
) -> Result<(), Error> {
    if let Some(ms) = cut.audio_end_ms {
        sender
            .send(ConversationItemTruncate::new(
                &cut.item_id,
                cut.content_index,
                u32::try_from(ms).unwrap_or(u32::MAX),
            ))
            .await?;
    }
    if cancel && cut.response_in_progress.is_some() {
        sender.send(ResponseCancel::default()).await?;
    }
    Ok(())
}
