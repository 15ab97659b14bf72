//! The capture thread: it opens the input (so the async caller never waits on a device),
//! then runs ring → mono → 24 kHz → 10 ms frames through the audio processor (with the
//! playback as far end) → encoded → `input_audio_buffer.append`.
//!
//! It never blocks on the session: when the send queue is full it waits in short naps,
//! watching for a stop, and while it waits the device keeps filling the ring (what does
//! not fit is dropped and counted).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::callback::{InputShared, Writer};
use super::input::{self, InputInfo};
use super::options::{CaptureOptions, Processing};
use super::processor::{AudioProcessor, PassThrough, SonoraProcessor};
use crate::Error;
use crate::audio::clock::{DeviceClock, Mark};
use crate::audio::device::Running;
use crate::audio::priority::{self, PrioritySlot};
use crate::audio::resample::Converter;
use crate::audio::{EchoReference, FRAME, RATE, ReferenceFrame};
use crate::realtime::codec;
use crate::realtime::events::{AudioFormat, InputAudioBufferAppend};
use crate::realtime::{ClientEvent, EventSender};

/// Longest a microphone frame waits for the far end played before it: past it, the frame
/// is processed without (its echo is not cancelled). Only a late playback thread makes it
/// wait at all.
const FAR_END_WAIT: Duration = Duration::from_millis(200);

/// A gap between the play times of two far-end frames (normally 10 ms apart) longer than
/// this is the speaker having stopped.
const FAR_END_GAP: Duration = Duration::from_millis(30);

/// Two signs of a skip closer than this are one glitch (its gap in the play times and its
/// underrun count, which comes from the device's error callback, in either order): the
/// processor is told once.
const ONE_SKIP: Duration = Duration::from_millis(500);

/// How long a stopping capture waits for room in the send queue for its last audio.
const STOP_GRACE: Duration = Duration::from_secs(2);

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// The API's limit on one event, with room for the JSON around the base64.
const MAX_EVENT_BYTES: usize = 15 * 1024 * 1024 - 1024;

/// Requests from the handle, answered once done.
pub(crate) enum Ctl {
    /// Send what is captured so far now (`discard`: drop it instead), then pause or not.
    Flush {
        discard: bool,
        pause: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// Counters and controls shared with the [`Capture`](super::Capture) handle.
#[derive(Debug, Default)]
pub(crate) struct CaptureShared {
    pub muted: AtomicBool,
    pub paused: AtomicBool,
    pub stop: AtomicBool,
    pub ended: AtomicBool,
    pub frames: AtomicU64,
    pub appends: AtomicU64,
    pub bytes: AtomicU64,
    pub samples_sent: AtomicU64,
    pub processing_ns: AtomicU64,
    pub processing_max_ns: AtomicU64,
    /// Level of the last frame after processing, dBFS as `f32` bits.
    pub rms_db: AtomicU32,
    pub peak_db: AtomicU32,
    pub latency_last_ns: AtomicU64,
    pub latency_max_ns: AtomicU64,
    pub latency_sum_ns: AtomicU64,
    pub render_frames: AtomicU64,
    pub far_end_skips: AtomicU64,
    /// When sending was last resumed, in ns after `epoch` (0: never).
    pub resumed_ns: AtomicU64,
    pub epoch: Epoch,
    pub error: Mutex<Option<Error>>,
    /// What scheduling the capture thread got.
    pub thread_priority: PrioritySlot,
}

/// The time base of [`CaptureShared::resumed_ns`].
#[derive(Debug)]
pub(crate) struct Epoch(pub Instant);

impl Default for Epoch {
    fn default() -> Self {
        Epoch(Instant::now())
    }
}

/// What the handle gets once the input runs.
pub(crate) struct Started {
    pub info: InputInfo,
    pub input: Arc<InputShared>,
    pub processor: &'static str,
}

/// The thread's body: opens the input, says how that went on `ready`, then captures until
/// stopped. If nobody waits for `ready` any more (the call was cancelled), the input is
/// released at once.
pub(crate) fn run(
    setup: CaptureOptions,
    sender: EventSender,
    shared: Arc<CaptureShared>,
    ctl: mpsc::Receiver<Ctl>,
    ready: oneshot::Sender<Result<Started, Error>>,
) {
    let (uplink, started) = match Uplink::open(setup, sender, shared, ctl) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(started)).is_err() {
        tracing::debug!("capture opened after its caller went away: released");
        return;
    }
    priority::promote_current("vivavoce-capture", &uplink.shared.thread_priority);
    uplink.run();
}

pub(crate) struct Uplink {
    ring: rtrb::Consumer<f32>,
    marks: rtrb::Consumer<Mark>,
    channels: usize,
    in_rate: u32,
    clock: DeviceClock,
    recent: VecDeque<Mark>,
    /// Device frames read from the ring.
    read: u64,
    converter: Converter,
    scratch: Vec<f32>,
    mono: Vec<f32>,
    /// 24 kHz samples not yet processed; `pending_index` is the index of the first.
    pending: Vec<f32>,
    pending_index: u64,
    processor: Box<dyn AudioProcessor>,
    reference: Option<EchoReference>,
    renders: VecDeque<ReferenceFrame>,
    /// The playback device's underruns seen so far (each one is told to the processor,
    /// unless it was just told of the same glitch).
    far_underruns: u64,
    /// When the processor was last told of a skip.
    skip_told: Option<Instant>,
    /// When the last far-end frame given to the processor was played.
    far_played_at: Option<Instant>,
    format: AudioFormat,
    down: Option<Converter>,
    chunk: Vec<u8>,
    chunk_samples: usize,
    down_buf: Vec<f32>,
    /// Device frame of the newest sample in the chunk.
    chunk_last_frame: u64,
    interval_samples: usize,
    sender: EventSender,
    shared: Arc<CaptureShared>,
    input: Arc<InputShared>,
    ctl: mpsc::Receiver<Ctl>,
    source: Option<Running>,
    /// The input's name, for its errors.
    device: String,
}

impl Uplink {
    /// Opens and starts the input, with the processor and converters behind it.
    fn open(
        setup: CaptureOptions,
        sender: EventSender,
        shared: Arc<CaptureShared>,
        ctl: mpsc::Receiver<Ctl>,
    ) -> Result<(Uplink, Started), Error> {
        let input = Arc::new(InputShared::default());
        let opened = input::open(
            &setup.source,
            setup.sample_rate,
            setup.buffer_frames,
            input.clone(),
        )?;
        let info = opened.info.clone();
        let channels = usize::from(info.channels.max(1));
        let (ring_tx, ring_rx) = rtrb::RingBuffer::new(info.sample_rate as usize * channels * 2);
        let (marks_tx, marks_rx) = rtrb::RingBuffer::new(1024);
        let processor: Box<dyn AudioProcessor> = match setup.processing {
            Processing::Default(o) => Box::new(SonoraProcessor::new(o)),
            Processing::PassThrough => Box::new(PassThrough),
            #[cfg(feature = "aec-webrtc")]
            Processing::WebRtc(o) => Box::new(super::processor::WebRtcProcessor::new(o)?),
            Processing::Custom(p) => p,
        };
        let down = match setup.format {
            AudioFormat::Pcmu | AudioFormat::Pcma => Some(Converter::fixed_input(RATE, 8_000)?),
            _ => None,
        };
        let converter = Converter::fixed_input(info.sample_rate, RATE)?;
        let source = opened.start(Writer::new(ring_tx, marks_tx, channels, input.clone()))?;
        let started = Started {
            info: info.clone(),
            input: input.clone(),
            processor: processor.name(),
        };
        let uplink = Uplink {
            ring: ring_rx,
            marks: marks_rx,
            channels,
            in_rate: info.sample_rate,
            clock: DeviceClock::new(info.sample_rate),
            recent: VecDeque::new(),
            read: 0,
            converter,
            scratch: Vec::new(),
            mono: Vec::new(),
            pending: Vec::new(),
            pending_index: 0,
            processor,
            far_underruns: setup
                .reference
                .as_ref()
                .map_or(0, EchoReference::device_underruns),
            skip_told: None,
            far_played_at: None,
            reference: setup.reference,
            renders: VecDeque::new(),
            format: setup.format,
            down,
            chunk: Vec::new(),
            chunk_samples: 0,
            down_buf: Vec::new(),
            chunk_last_frame: 0,
            interval_samples: (setup.interval.as_secs_f64() * f64::from(RATE)) as usize,
            sender,
            shared,
            input,
            ctl,
            source: Some(source),
            device: info.name.clone(),
        };
        Ok((uplink, started))
    }

    fn run(mut self) {
        let result = self.run_inner();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "audio capture stopped");
            *self.shared.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        }
        self.source.take();
        self.shared.ended.store(true, Ordering::Release);
    }

    fn run_inner(&mut self) -> Result<(), Error> {
        loop {
            let stopping = self.shared.stop.load(Ordering::Acquire);
            let ended = self.input.ended.load(Ordering::Acquire);
            self.read_ring();
            while let Ok(Ctl::Flush {
                discard,
                pause,
                reply,
            }) = self.ctl.try_recv()
            {
                let r = self.flush(discard);
                if pause {
                    self.shared.paused.store(true, Ordering::Release);
                }
                let _ = reply.send(r);
            }
            if stopping || (ended && self.ring.slots() == 0) {
                self.read_ring();
                self.flush(false)?;
                if self.input.device_lost.load(Ordering::Acquire) {
                    // What it captured was sent; the rest of the session goes on without it.
                    return Err(Error::AudioDevice {
                        device: self.device.clone(),
                        message: "the input device stopped".into(),
                    });
                }
                return Ok(());
            }
            self.process(false)?;
            if self.chunk_samples >= self.interval_samples {
                self.send()?;
            }
            std::thread::park_timeout(self.until_next_callback());
        }
    }

    /// How long to sleep: until just after the input's next callback is due (by the last
    /// two), so its audio goes on without waiting for a fixed tick; at most 5 ms, and in
    /// naps of at least 0.5 ms while a callback is late.
    fn until_next_callback(&self) -> Duration {
        const LONGEST: Duration = Duration::from_millis(5);
        const SHORTEST: Duration = Duration::from_micros(500);
        const MARGIN: Duration = Duration::from_micros(300);
        let n = self.recent.len();
        let (Some(prev), Some(last)) = (self.recent.get(n.wrapping_sub(2)), self.recent.back())
        else {
            return LONGEST;
        };
        let frames = last.frame.saturating_sub(prev.frame);
        let period = Duration::from_nanos(frames * 1_000_000_000 / u64::from(self.in_rate.max(1)));
        let due = last.at + period.min(LONGEST) + MARGIN;
        due.saturating_duration_since(Instant::now())
            .clamp(SHORTEST, LONGEST)
    }

    /// Takes what the device wrote: down-mix to mono, convert to 24 kHz.
    fn read_ring(&mut self) {
        while let Ok(m) = self.marks.pop() {
            self.clock.follow(m.frame, m.at);
            self.recent.push_back(m);
            if self.recent.len() > 256 {
                self.recent.pop_front();
            }
        }
        let want = self.ring.slots() / self.channels * self.channels;
        if want == 0 {
            return;
        }
        self.scratch.resize(want, 0.0);
        let got = {
            let (done, _) = self.ring.pop_partial_slice(&mut self.scratch);
            done.len()
        };
        self.mono.clear();
        let ch = self.channels as f32;
        self.mono.extend(
            self.scratch[..got]
                .chunks_exact(self.channels)
                .map(|f| f.iter().sum::<f32>() / ch),
        );
        self.read += self.mono.len() as u64;
        let mono = std::mem::take(&mut self.mono);
        self.converter.push(&mono, &mut self.pending);
        self.mono = mono;
    }

    /// When the 24 kHz sample `index` was captured (by the input's clock).
    fn captured_at(&self, index: u64) -> Option<Instant> {
        let frame = index as f64 * f64::from(self.in_rate) / f64::from(RATE);
        let latency = Duration::from_nanos(self.input.input_latency_ns.load(Ordering::Relaxed));
        self.clock
            .at(frame)
            .map(|t| t.checked_sub(latency).unwrap_or(t))
    }

    /// Runs full frames through the processor. Unless `force`, waits (up to
    /// [`FAR_END_WAIT`]) for
    /// the far end to reach a frame's capture time, so the echo canceller always has the
    /// played audio before the microphone audio that holds its echo.
    fn process(&mut self, force: bool) -> Result<(), Error> {
        let mut used = 0;
        while self.pending.len() - used >= FRAME {
            let index = self.pending_index + used as u64;
            let captured = self.captured_at(index);
            if !self.feed_far_end(captured, force) {
                break;
            }
            let mut frame = [0.0f32; FRAME];
            frame.copy_from_slice(&self.pending[used..used + FRAME]);
            self.frame(&mut frame, FRAME, index)?;
            used += FRAME;
        }
        self.pending.drain(..used);
        self.pending_index += used as u64;
        Ok(())
    }

    /// Tells the processor that the far end skipped, and counts it, unless it was told
    /// less than [`ONE_SKIP`] ago (the same glitch, seen the other way).
    fn far_end_skipped(&mut self) {
        let now = Instant::now();
        if self
            .skip_told
            .is_some_and(|t| now.duration_since(t) < ONE_SKIP)
        {
            return;
        }
        self.skip_told = Some(now);
        tracing::debug!("the far end skipped: the echo canceller is told");
        self.shared.far_end_skips.fetch_add(1, Ordering::Relaxed);
        self.processor.far_end_skipped();
    }

    /// Gives the processor the far-end frames played up to `captured`; `false` to wait.
    fn feed_far_end(&mut self, captured: Option<Instant>, force: bool) -> bool {
        let Some(reference) = self.reference.as_mut() else {
            return true;
        };
        while let Some(f) = reference.pop() {
            self.renders.push_back(f);
        }
        // An underrun is told at once, by its count; but the count comes from the
        // device's error callback, which may only report it after the audio has resumed.
        let (underruns, active) = (reference.device_underruns(), reference.is_active());
        if underruns > self.far_underruns {
            self.far_underruns = underruns;
            self.far_end_skipped();
        }
        let Some(captured) = captured else {
            return true;
        };
        let horizon = captured + Duration::from_millis(5);
        let behind = self.renders.back().is_none_or(|f| f.played_at < horizon);
        if behind && !force && active && captured.elapsed() < FAR_END_WAIT {
            return false;
        }
        while self.renders.front().is_some_and(|f| f.played_at <= horizon) {
            let f = self.renders.pop_front().expect("checked");
            // A gap in the play times is the speaker having stopped (an underrun, or a
            // reopened device): told before the microphone frames that hold its echo.
            let before = self.far_played_at.replace(f.played_at);
            if before.is_some_and(|t| f.played_at.saturating_duration_since(t) > FAR_END_GAP) {
                self.far_end_skipped();
            }
            if let Err(e) = self.processor.render(&f.samples) {
                tracing::debug!(error = %e, "far-end frame");
            }
            self.shared.render_frames.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Processes one frame (`real` samples of it are audio, the rest padding) and adds it
    /// to the chunk.
    fn frame(&mut self, frame: &mut [f32; FRAME], real: usize, index: u64) -> Result<(), Error> {
        let t0 = Instant::now();
        self.processor.capture(frame)?;
        let took = t0.elapsed().as_nanos() as u64;
        let s = &*self.shared;
        s.processing_ns.fetch_add(took, Ordering::Relaxed);
        s.processing_max_ns.fetch_max(took, Ordering::Relaxed);
        s.frames.fetch_add(1, Ordering::Relaxed);
        let real = &mut frame[..real];
        let (mut sum, mut peak) = (0.0f32, 0.0f32);
        for x in real.iter() {
            sum += x * x;
            peak = peak.max(x.abs());
        }
        let db = |v: f32| if v > 0.0 { 20.0 * v.log10() } else { -120.0 };
        s.rms_db.store(
            db((sum / real.len().max(1) as f32).sqrt()).to_bits(),
            Ordering::Relaxed,
        );
        s.peak_db.store(db(peak).to_bits(), Ordering::Relaxed);
        if s.paused.load(Ordering::Acquire) {
            return Ok(());
        }
        // Audio captured before a resume (a push-to-talk press) is not part of the turn,
        // even when this thread gets to it only after the resume.
        let resumed = s.resumed_ns.load(Ordering::Acquire);
        if resumed > 0
            && let Some(at) = self.captured_at(index)
            && (at.saturating_duration_since(s.epoch.0).as_nanos() as u64) < resumed
        {
            return Ok(());
        }
        if s.muted.load(Ordering::Relaxed) {
            real.fill(0.0);
        }
        self.encode(real);
        self.chunk_samples += real.len();
        let last = (index + real.len() as u64) as f64 * f64::from(self.in_rate) / f64::from(RATE);
        self.chunk_last_frame = (last as u64).saturating_sub(1);
        if self.chunk.len() >= MAX_EVENT_BYTES / 4 * 3 - 8 * FRAME {
            self.send()?;
        }
        Ok(())
    }

    fn encode(&mut self, samples: &[f32]) {
        match self.down.as_mut() {
            Some(down) => {
                self.down_buf.clear();
                down.push(samples, &mut self.down_buf);
                self.encode_g711();
            }
            None => {
                for &x in samples {
                    self.chunk.extend_from_slice(&to_i16(x).to_le_bytes());
                }
            }
        }
    }

    /// Appends `down_buf` (8 kHz) as μ-law or A-law.
    fn encode_g711(&mut self) {
        let law = if self.format == AudioFormat::Pcmu {
            codec::ulaw_encode
        } else {
            codec::alaw_encode
        };
        self.chunk
            .extend(self.down_buf.iter().map(|&x| law(to_i16(x))));
    }

    /// Sends the chunk as one `input_audio_buffer.append`.
    fn send(&mut self) -> Result<(), Error> {
        if self.chunk.is_empty() {
            self.chunk_samples = 0;
            return Ok(());
        }
        if !self.queue()? {
            self.chunk.clear();
            self.chunk_samples = 0;
            return Err(Error::Timeout {
                operation: "sending the last captured audio (the session's send queue stayed full)",
                after: STOP_GRACE,
            });
        }
        let s = &*self.shared;
        s.appends.fetch_add(1, Ordering::Relaxed);
        s.bytes
            .fetch_add(self.chunk.len() as u64, Ordering::Relaxed);
        s.samples_sent
            .fetch_add(self.chunk_samples as u64, Ordering::Relaxed);
        // Mic-to-event latency: from the callback that delivered the chunk's last sample.
        let last = self.chunk_last_frame;
        if let Some(m) = self.recent.iter().rev().find(|m| m.frame <= last) {
            let ns = m.at.elapsed().as_nanos() as u64;
            s.latency_last_ns.store(ns, Ordering::Relaxed);
            s.latency_max_ns.fetch_max(ns, Ordering::Relaxed);
            s.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
        }
        self.chunk.clear();
        self.chunk_samples = 0;
        Ok(())
    }

    /// Queues the chunk as one append, waiting in short naps while the session's send
    /// queue is full (never blocking on it, so a stop is always seen). `false` when
    /// stopping and the queue stayed full for [`STOP_GRACE`].
    fn queue(&mut self) -> Result<bool, Error> {
        let mut stopping_since: Option<Instant> = None;
        loop {
            let chunk = &self.chunk;
            let make = || ClientEvent::from(InputAudioBufferAppend::from_bytes(chunk));
            if self.sender.try_send_with(make)? {
                return Ok(true);
            }
            if self.shared.stop.load(Ordering::Acquire) {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= STOP_GRACE {
                    return Ok(false);
                }
            }
            std::thread::park_timeout(Duration::from_millis(2));
        }
    }

    /// Everything captured so far goes out now (or is dropped with `discard`): the
    /// resampler's tail, full frames, and a last partial frame.
    fn flush(&mut self, discard: bool) -> Result<(), Error> {
        self.read_ring();
        self.converter.flush(&mut self.pending);
        self.process(true)?;
        let rest = self.pending.len();
        if rest > 0 {
            let mut frame = [0.0f32; FRAME];
            frame[..rest].copy_from_slice(&self.pending);
            let index = self.pending_index;
            self.frame(&mut frame, rest, index)?;
            self.pending.clear();
            self.pending_index += rest as u64;
        }
        if let Some(down) = self.down.as_mut() {
            self.down_buf.clear();
            down.flush(&mut self.down_buf);
            if !self.shared.paused.load(Ordering::Acquire) {
                self.encode_g711();
            }
        }
        if discard {
            self.chunk.clear();
            self.chunk_samples = 0;
            return Ok(());
        }
        self.send()
    }
}
