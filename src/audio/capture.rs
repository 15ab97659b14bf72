//! [`capture_audio`]: the microphone into a session, and the [`Capture`] handle.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::clock::DeviceClock;
use super::device;
use super::input::{self, InputInfo, InputShared, InputSource, Writer};
use super::processor::{AudioProcessor, PassThrough, ProcessingOptions, RATE, SonoraProcessor};
use super::reference::EchoReference;
use super::resample::Converter;
use super::uplink::{CaptureShared, Ctl, Uplink};
use crate::Error;
use crate::realtime::EventSender;
use crate::realtime::events::{
    AudioFormat, InputAudioBufferClear, InputAudioBufferCommit, ResponseCreate,
};

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

/// Options of [`capture_audio`].
///
/// | option | default | meaning |
/// |---|---|---|
/// | `source` | [`InputSource::Default`] | the microphone, another device, or a WAV file |
/// | `sample_rate` | device default | ask the device for this rate |
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
#[derive(Debug)]
#[non_exhaustive]
#[must_use]
pub struct CaptureOptions {
    /// Where to record.
    pub source: InputSource,
    /// Device sample rate to ask for.
    pub sample_rate: Option<u32>,
    /// Audio per append event.
    pub interval: Duration,
    /// The session's input audio format.
    pub format: AudioFormat,
    /// The audio processor.
    pub processing: Processing,
    /// The far-end reference from playback.
    pub reference: Option<EchoReference>,
    /// Start paused (nothing sent until [`Capture::resume`]).
    pub start_paused: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            source: InputSource::Default,
            sample_rate: None,
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
    /// Sets `reference`.
    pub fn reference(mut self, reference: EchoReference) -> Self {
        self.reference = Some(reference);
        self
    }
    /// Sets `start_paused`.
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }
}

/// Level of the last 10 ms, after processing, for meters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Level {
    /// RMS in dBFS (−120 for silence).
    pub rms_db: f32,
    /// Peak in dBFS.
    pub peak_db: f32,
}

/// Capture counters, from [`Capture::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureMetrics {
    /// 10 ms frames processed.
    pub frames: u64,
    /// Device frames lost because processing fell behind (the ring was full).
    pub frames_dropped: u64,
    /// Far-end frames given to the echo canceller.
    pub render_frames: u64,
    /// `input_audio_buffer.append` events sent.
    pub appends: u64,
    /// Audio bytes sent (before base64).
    pub bytes: u64,
    /// Audio sent, at 24 kHz.
    pub sent: Duration,
    /// Mean and worst processing time per 10 ms frame.
    pub processing_mean: Duration,
    /// Worst processing time per frame.
    pub processing_max: Duration,
    /// From the input callback that delivered an append's last sample to the append being
    /// queued for sending: the last one, the mean and the worst.
    pub latency_last: Duration,
    /// Mean mic-to-event latency.
    pub latency_mean: Duration,
    /// Worst mic-to-event latency.
    pub latency_max: Duration,
}

/// A running capture. [`stop`](Capture::stop) (or dropping it) ends it.
pub struct Capture {
    shared: Arc<CaptureShared>,
    input: Arc<InputShared>,
    ctl: mpsc::Sender<Ctl>,
    thread: std::thread::Thread,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
    info: InputInfo,
    processor: &'static str,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("input", &self.info)
            .field("processor", &self.processor)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Streams a microphone (or WAV file) into the session as `input_audio_buffer.append`.
///
/// The input callback only copies into a lock-free ring; a processing thread down-mixes,
/// resamples to 24 kHz (rubato), runs 10 ms frames through the audio processor with the
/// playback as far end, encodes, and sends every `interval`. Opens the device before
/// returning: a missing one is [`Error::NoAudioDevice`]. Must be called inside a tokio
/// runtime (sending uses the session's sender).
///
/// ```no_run
/// use vivavoce::audio::{capture_audio, stream, CaptureOptions, PlaybackOptions};
/// use vivavoce::realtime::{connect, ConnectOptions};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, rx) = connect(ConnectOptions::default()).await?;
/// let (events, playback) = stream(rx, PlaybackOptions::new(tx.clone()))?;
/// let mut options = CaptureOptions::default();
/// options.reference = playback.echo_reference(); // the assistant will not hear itself
/// let capture = capture_audio(tx.clone(), options)?;
/// # let _ = events;
/// // … talk …
/// capture.stop().await?;
/// # Ok(()) }
/// ```
pub fn capture_audio(sender: EventSender, options: CaptureOptions) -> Result<Capture, Error> {
    if options.interval < Duration::from_millis(10) || options.interval > Duration::from_secs(60) {
        return Err(Error::InvalidOption {
            option: "interval",
            message: "must be between 10 ms and 60 s".into(),
        });
    }
    let input = Arc::new(InputShared::default());
    let opened = input::open(&options.source, options.sample_rate, input.clone())?;
    let info = opened.info.clone();
    let channels = usize::from(info.channels.max(1));
    let (ring_tx, ring_rx) = rtrb::RingBuffer::new(info.sample_rate as usize * channels * 2);
    let (marks_tx, marks_rx) = rtrb::RingBuffer::new(1024);
    let processor: Box<dyn AudioProcessor> = match options.processing {
        Processing::Default(o) => Box::new(SonoraProcessor::new(o)),
        Processing::PassThrough => Box::new(PassThrough),
        #[cfg(feature = "aec-webrtc")]
        Processing::WebRtc(o) => Box::new(super::processor::WebRtcProcessor::new(o)?),
        Processing::Custom(p) => p,
    };
    let processor_name = processor.name();
    let down = match options.format {
        AudioFormat::Pcmu | AudioFormat::Pcma => Some(Converter::fixed_input(RATE, 8_000)?),
        _ => None,
    };
    let converter = Converter::fixed_input(info.sample_rate, RATE)?;
    let shared = Arc::new(CaptureShared::default());
    shared.paused.store(options.start_paused, Ordering::Release);
    let source = opened.start(Writer::new(ring_tx, marks_tx, channels, input.clone()))?;
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let uplink = Uplink {
        ring: ring_rx,
        marks: marks_rx,
        channels,
        in_rate: info.sample_rate,
        clock: DeviceClock::new(info.sample_rate),
        recent: Default::default(),
        read: 0,
        converter,
        scratch: Vec::new(),
        mono: Vec::new(),
        pending: Vec::new(),
        pending_index: 0,
        processor,
        reference: options.reference,
        renders: Default::default(),
        format: options.format,
        down,
        chunk: Vec::new(),
        chunk_samples: 0,
        down_buf: Vec::new(),
        chunk_last_frame: 0,
        interval_samples: (options.interval.as_secs_f64() * f64::from(RATE)) as usize,
        sender,
        shared: shared.clone(),
        input: input.clone(),
        ctl: ctl_rx,
        source: Some(source),
    };
    let join = device::spawn("vivavoce-capture", &info.name, move || uplink.run())?;
    Ok(Capture {
        shared,
        input,
        ctl: ctl_tx,
        thread: join.thread().clone(),
        join: Mutex::new(Some(join)),
        info,
        processor: processor_name,
    })
}

impl Capture {
    /// The device (or file) and configuration recording.
    pub fn input(&self) -> &InputInfo {
        &self.info
    }

    /// The audio processor's name (`"sonora"`, `"pass-through"`, …).
    pub fn processor(&self) -> &'static str {
        self.processor
    }

    /// Ends capture: what was captured is processed and sent (the last partial chunk
    /// too), then the device is released. Returns the error that ended capture early, if
    /// one did.
    pub async fn stop(&self) -> Result<(), Error> {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        let join = self.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(j) = join {
            let _ = tokio::task::spawn_blocking(move || j.join()).await;
        }
        match self
            .shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether capture has ended (stopped, the WAV file ended, or the device failed).
    pub fn is_ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }

    /// Sends silence instead of the microphone (the server's VAD hears the turn end).
    pub fn mute(&self) {
        self.shared.muted.store(true, Ordering::Relaxed);
    }

    /// Sends the microphone again.
    pub fn unmute(&self) {
        self.shared.muted.store(false, Ordering::Relaxed);
    }

    /// Whether muted.
    pub fn is_muted(&self) -> bool {
        self.shared.muted.load(Ordering::Relaxed)
    }

    /// Stops sending anything (the microphone keeps running, so echo cancellation stays
    /// adapted); [`resume`](Self::resume) sends again from then on.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Sends again after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Release);
    }

    /// Sends what has been captured so far now, without waiting for the interval.
    pub async fn flush(&self) -> Result<(), Error> {
        self.request(false, false).await
    }

    async fn request(&self, discard: bool, pause: bool) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        let ended = || Error::AudioDevice {
            device: self.info.name.clone(),
            message: "capture has ended".into(),
        };
        self.ctl
            .send(Ctl::Flush {
                discard,
                pause,
                reply,
            })
            .await
            .map_err(|_| ended())?;
        self.thread.unpark();
        rx.await.map_err(|_| ended())?
    }

    /// The level of the last 10 ms, after processing.
    pub fn level(&self) -> Level {
        let f = |a: &std::sync::atomic::AtomicU32| f32::from_bits(a.load(Ordering::Relaxed));
        Level {
            rms_db: f(&self.shared.rms_db),
            peak_db: f(&self.shared.peak_db),
        }
    }

    /// Counters.
    pub fn metrics(&self) -> CaptureMetrics {
        let s = &*self.shared;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let frames = n(&s.frames);
        let appends = n(&s.appends);
        CaptureMetrics {
            frames,
            frames_dropped: n(&self.input.dropped),
            render_frames: n(&s.render_frames),
            appends,
            bytes: n(&s.bytes),
            sent: Duration::from_nanos(n(&s.samples_sent) * 1_000_000_000 / u64::from(RATE)),
            processing_mean: Duration::from_nanos(n(&s.processing_ns) / frames.max(1)),
            processing_max: Duration::from_nanos(n(&s.processing_max_ns)),
            latency_last: Duration::from_nanos(n(&s.latency_last_ns)),
            latency_mean: Duration::from_nanos(n(&s.latency_sum_ns) / appends.max(1)),
            latency_max: Duration::from_nanos(n(&s.latency_max_ns)),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        if let Some(j) = self.join.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = j.join();
        }
    }
}

/// Push-to-talk over a [`Capture`]: nothing is sent until [`press`](Self::press); on
/// [`release`](Self::release) the captured audio is sent and committed and a response is
/// asked for; [`cancel`](Self::cancel) throws the turn away. Made for sessions with
/// `turn_detection: null`.
#[derive(Debug)]
pub struct PushToTalk {
    capture: Capture,
    sender: EventSender,
}

impl PushToTalk {
    /// Wraps `capture` (paused from now on) and the session's sender.
    pub fn new(capture: Capture, sender: EventSender) -> Self {
        capture.pause();
        PushToTalk { capture, sender }
    }

    /// Starts sending the microphone.
    pub fn press(&self) {
        self.capture.resume();
    }

    /// Sends what was captured, then `input_audio_buffer.commit` and `response.create`.
    pub async fn release(&self) -> Result<(), Error> {
        self.capture.request(false, true).await?;
        self.sender.send(InputAudioBufferCommit::default()).await?;
        self.sender.send(ResponseCreate::default()).await
    }

    /// Drops what was captured since the press and sends `input_audio_buffer.clear`.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.capture.request(true, true).await?;
        self.sender.send(InputAudioBufferClear::default()).await
    }

    /// The capture underneath (levels, metrics, stop).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }
}
