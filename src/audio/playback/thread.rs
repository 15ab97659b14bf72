//! The playback thread: decoded audio in, resampled frames into the callback's ring.
//!
//! One thread per [`Playback`](super::Playback). It opens the output (so the async caller
//! never waits on a device), converts each item's audio to the device rate, keeps the
//! lock-free ring topped up (audio beyond the ring waits in a bounded queue here, never in
//! the callback), tracks which item each ring position belongs to, carries out clears and
//! interruptions, resolves drains, and turns the callback's tap into the echo reference.
//! It wakes on every message and every few ms. After an underrun it holds back more
//! audio ([`cushion`](super::cushion)); after the device runs dry it reopens the output
//! with a longer period once nothing plays ([`period`](super::period)).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::callback::{Renderer, Shared};
use super::control::{Control, Msg};
use super::cushion::{self, Cushion};
use super::echo_reference::ReferenceTap;
use super::interruption::Interruption;
use super::options::PlaybackOptions;
use super::output::{self, OutputInfo};
use super::period::Period;
use super::position::{self, Tracker};
use crate::Error;
use crate::audio::RATE;
use crate::audio::device::Running;
use crate::audio::priority::{self, PrioritySlot};
use crate::audio::resample::Converter;
use crate::time::std_after;

/// What the handle gets once the output runs.
pub(crate) struct Started {
    pub control: Arc<Control>,
    pub info: OutputInfo,
}

/// The thread's body: opens the output, says how that went on `ready`, then plays until
/// stopped. If nobody waits for `ready` any more (the open was cancelled), the output is
/// released at once.
pub(crate) fn run(
    setup: PlaybackOptions,
    rx: mpsc::Receiver<Msg>,
    ready: oneshot::Sender<Result<Started, Error>>,
) {
    let (feeder, started) = match Feeder::open(setup, rx) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let control = started.control.clone();
    if ready.send(Ok(started)).is_err() {
        tracing::debug!("playback opened after its caller went away: released");
        return;
    }
    priority::promote_current("vivavoce-playback", &control.thread_priority);
    feeder.run();
}

/// A pending drain: the position to reach, then when it is heard, then the answer.
pub(crate) type Drain = (u64, Option<Instant>, oneshot::Sender<Result<(), Error>>);

pub(crate) struct Feeder {
    rx: mpsc::Receiver<Msg>,
    control: Arc<Control>,
    ring: rtrb::Producer<f32>,
    converter: Converter,
    max_queue: usize,
    prebuffer: Duration,
    /// Grown after each underrun and held back before playing on.
    cushion: Cushion,
    /// When audio last went into the ring.
    fed_at: Instant,
    /// `None` only while it is reopened.
    output: Option<Running>,
    /// The device period, and its fallback after the device runs dry.
    period: Period,
    /// The output's name, for errors.
    device_name: String,
    queue: VecDeque<f32>,
    produced: u64,
    written: u64,
    /// The item whose audio is inside the converter.
    segment: Option<(String, u32)>,
    /// Until when the start of the current item is held back (see `prebuffer`).
    hold: Option<Instant>,
    active: Vec<String>,
    cancelled: VecDeque<String>,
    cleared: u64,
    drains: Vec<Drain>,
    /// The server says its playout goes on (WebRTC): drains wait for its end.
    server_playing: bool,
    scratch: Vec<f32>,
    converted: Vec<f32>,
    /// The callback count and when it last changed.
    last_callbacks: (u64, Instant),
}

impl Feeder {
    /// Opens and starts the output, with everything the callback and this thread share.
    fn open(setup: PlaybackOptions, rx: mpsc::Receiver<Msg>) -> Result<(Feeder, Started), Error> {
        let shared = Arc::new(Shared::new(setup.volume));
        let mut period = Period::new(&setup);
        let (opened, device) = output::open(
            &setup.target,
            setup.sample_rate,
            (setup.buffer_frames, period.floor_ms()),
            shared.clone(),
            period.home(),
        )?;
        period.opened(device);
        let info = opened.info.clone();
        let rate = info.sample_rate;
        let (ring_tx, ring_rx) = rtrb::RingBuffer::new(rate as usize * 2);
        let (tap_tx, tap_rx) = rtrb::RingBuffer::new(rate as usize);
        let (marks_tx, marks_rx) = rtrb::RingBuffer::new(512);
        let channels = usize::from(info.channels);
        let renderer = Renderer::new(ring_rx, shared.clone(), channels, rate, tap_tx, marks_tx);
        let converter = Converter::new(RATE, rate)?;
        let reference = ReferenceTap::new(tap_rx, marks_rx, shared.clone(), rate)?;
        let output = opened.start(renderer)?;
        let control = Arc::new(Control {
            shared,
            seq: 0.into(),
            clear_upto: 0.into(),
            dropped: 0.into(),
            cushion_ns: 0.into(),
            tracker: Mutex::default(),
            reference: Mutex::new(reference),
            thread: std::sync::OnceLock::new(),
            thread_priority: PrioritySlot::default(),
            device_rate: rate,
            resampler_delay: converter.delay_frames() as u64,
        });
        let _ = control.thread.set(std::thread::current());
        let max_queue = (setup.max_queued.as_secs_f64() * f64::from(rate)) as usize;
        let feeder = Feeder {
            rx,
            control: control.clone(),
            ring: ring_tx,
            converter,
            max_queue,
            prebuffer: setup.prebuffer,
            cushion: Cushion::default(),
            fed_at: Instant::now(),
            output: Some(output),
            period,
            device_name: info.name.clone(),
            queue: VecDeque::new(),
            produced: 0,
            written: 0,
            segment: None,
            hold: None,
            active: Vec::new(),
            cancelled: VecDeque::new(),
            cleared: 0,
            drains: Vec::new(),
            server_playing: false,
            scratch: Vec::new(),
            converted: Vec::new(),
            last_callbacks: (0, Instant::now()),
        };
        Ok((feeder, Started { control, info }))
    }

    fn run(mut self) {
        let tick = Duration::from_millis(4);
        let shared = self.control.shared.clone();
        while !shared.stop.load(Ordering::Acquire) {
            self.check_clear();
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
                self.check_clear();
            }
            self.pump();
            self.stamp_heard();
            self.control
                .reference
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pump();
            self.drains();
            let busy = self.segment.is_some()
                || self.hold.is_some()
                || !self.queue.is_empty()
                || !self.drains.is_empty()
                || !self.active.is_empty()
                || self.written > shared.consumed.load(Ordering::Acquire);
            self.period.check(&mut self.output, &shared, busy);
            let wait = match self.hold {
                Some(until) => until.saturating_duration_since(Instant::now()).min(tick),
                None => tick,
            };
            std::thread::park_timeout(wait);
        }
        for (_, _, reply) in self.drains.drain(..) {
            let _ = reply.send(Err(Error::PlaybackStopped));
        }
        drop(self.output);
    }

    /// Stamps the first-heard time of items whose first frame the callback has taken.
    fn stamp_heard(&mut self) {
        let s = &*self.control.shared;
        let consumed = s.consumed.load(Ordering::Acquire);
        let latency = Duration::from_nanos(s.output_latency_ns.load(Ordering::Relaxed));
        let rate = self.control.device_rate;
        // The callback's timing of the last watched start; read twice around its position
        // so that a hit landing in between is taken next time rather than mismatched.
        let hit = s.watch_hit_ns.load(Ordering::Acquire);
        let pos = s.watch_hit_pos.load(Ordering::Acquire);
        let exact = (hit != 0 && s.watch_hit_ns.load(Ordering::Acquire) == hit)
            .then(|| (pos, s.base + Duration::from_nanos(hit)));
        self.tracker()
            .stamp_heard(consumed, Instant::now(), latency, rate, exact);
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Audio {
                seq,
                item_id,
                content_index,
                response_id,
                rate,
                samples,
                arrived,
            } => {
                let item = (item_id, content_index);
                self.audio(seq, item, response_id, rate, &samples, arrived);
            }
            Msg::AudioDone { item_id } => {
                if self.segment.as_ref().is_some_and(|(id, _)| *id == item_id) {
                    self.finish_segment();
                }
            }
            Msg::ResponseStarted(id) => self.active.push(id),
            Msg::ResponseDone(id) => {
                self.active.retain(|r| *r != id);
                let ours = self
                    .tracker()
                    .current()
                    .is_some_and(|e| e.response_id == id);
                if ours {
                    self.finish_segment();
                }
            }
            Msg::Interrupt(reply) => {
                let cut = self.interrupt();
                let _ = reply.send(cut);
            }
            Msg::Drain(reply) => {
                self.finish_segment();
                self.pump();
                self.drains.push((self.produced, None, reply));
            }
            Msg::ServerPlayout(playing) => self.server_playing = playing,
        }
        self.update_expecting();
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.control
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn audio(
        &mut self,
        seq: u64,
        (item_id, ci): (String, u32),
        response_id: String,
        rate: u32,
        samples: &[i16],
        arrived: Instant,
    ) {
        if seq <= self.cleared || self.cancelled.contains(&response_id) {
            return;
        }
        if self
            .segment
            .as_ref()
            .is_some_and(|(id, c)| *id != item_id || *c != ci)
        {
            self.finish_segment();
        }
        if self.converter.input_rate() != rate {
            self.finish_segment();
            match Converter::new(rate, self.control.device_rate) {
                Ok(c) => self.converter = c,
                Err(e) => {
                    tracing::warn!(error = %e, "audio dropped");
                    return;
                }
            }
        }
        let start = self.produced;
        {
            let mut t = self.tracker();
            let Some(entry) = t.open(&item_id, ci, &response_id, rate, start) else {
                return; // cut by an interruption: late audio of that item is not played
            };
            entry.received += samples.len() as u64;
            entry.first_arrived.get_or_insert(arrived);
        }
        let s = &*self.control.shared;
        let dry = self.written <= s.consumed.load(Ordering::Acquire) && self.queue.is_empty();
        if self.segment.is_none() {
            self.segment = Some((item_id, ci));
            self.cushion
                .item_starts(s.underruns.load(Ordering::Acquire));
            // Hold the start back for the resampler's delay and one device period, plus
            // `prebuffer` (and the cushion), unless audio is still playing ahead of it:
            // every delta's last few ms come out of the resampler only with the next
            // delta, and each callback takes a whole period at once, so deltas arriving
            // just in time would otherwise leave a gap each.
            if dry {
                // Time this start: from the delta's arrival to the callback playing it.
                let at = arrived.saturating_duration_since(s.base).as_nanos() as u64;
                s.watch_arrival_ns.store(at, Ordering::Release);
                s.watch_pos.store(self.produced, Ordering::Release);
                let hold = self.prebuffer + self.cushion.get() + self.minimum_hold();
                self.hold = Some(std_after(Instant::now(), hold));
            }
        } else if self.notice_underrun(dry, arrived) {
            if dry && self.hold.is_none() {
                // The ring ran dry in the middle of an item and this audio came late:
                // build the grown cushion up again before playing on, rather than
                // glitching on every delta. (Audio that was on its way as the ring ran
                // dry finds it playing again: the cushion then serves the next start.)
                let hold = self.prebuffer + self.cushion.get() + self.minimum_hold();
                self.hold = Some(std_after(Instant::now(), hold));
            }
        } else if !dry && self.hold.is_none() {
            self.notice_near_miss();
        }
        self.scratch.clear();
        self.scratch
            .extend(samples.iter().map(|&s| f32::from(s) / 32768.0));
        let mut converted = std::mem::take(&mut self.converted);
        converted.clear();
        self.converter.push(&self.scratch, &mut converted);
        self.append(&converted);
        self.converted = converted;
    }

    /// Grows the cushion if the ring ran dry since the last look, by how long before
    /// `came` it did (or, if the ring is not `dry` but playing again, before the audio
    /// that refilled it went in); says whether it grew.
    fn notice_underrun(&mut self, dry: bool, came: Instant) -> bool {
        let s = &*self.control.shared;
        let underruns = s.underruns.load(Ordering::Acquire);
        let dry_at = s.base + Duration::from_nanos(s.underrun_ns.load(Ordering::Relaxed));
        let came = if dry { came } else { self.fed_at };
        if !self.cushion.notice(underruns, dry_at, came) {
            return false;
        }
        self.cushion_grew("playback underrun: holding back more audio");
        true
    }

    /// Publishes the grown cushion (for the metrics) and logs `why`.
    fn cushion_grew(&self, why: &str) {
        let cushion = self.cushion.get();
        self.control
            .cushion_ns
            .store(cushion.as_nanos() as u64, Ordering::Relaxed);
        tracing::debug!(?cushion, why);
    }

    /// Grows the cushion if this audio reaches the ring with less than
    /// [`NEAR`](super::cushion::NEAR) to spare before the callback that needs it.
    fn notice_near_miss(&mut self) {
        let s = &*self.control.shared;
        if s.callbacks.load(Ordering::Acquire) == 0 || s.paused.load(Ordering::Relaxed) {
            return;
        }
        let left = self
            .written
            .saturating_sub(s.consumed.load(Ordering::Acquire));
        let last = s.base + Duration::from_nanos(s.callback_ns.load(Ordering::Relaxed));
        let period = s.period.load(Ordering::Relaxed);
        let rate = self.control.device_rate;
        let Some(spare) = cushion::spare(left, period, rate, last, Instant::now()) else {
            return;
        };
        if self.cushion.near_miss(spare) {
            self.cushion_grew("playback near miss: holding back more audio");
        }
    }

    /// The least a start from silence is held for deltas arriving just in time to leave no
    /// gap: the resampler's delay plus one device period (the last callback's, or 10 ms
    /// before the first), plus [`START`](cushion::START) to spare.
    fn minimum_hold(&self) -> Duration {
        let rate = u64::from(self.control.device_rate.max(1));
        let period = match self.control.shared.period.load(Ordering::Relaxed) {
            0 => rate / 100,
            n => u64::from(n),
        };
        let frames = self.converter.delay_frames() as u64 + period;
        Duration::from_nanos(frames * 1_000_000_000 / rate) + cushion::START
    }

    /// Flushes the converter into the current item and closes it.
    fn finish_segment(&mut self) {
        // (An underrun while the item's end was awaited is not acted on: only the
        // resampler's last ms were missing, and how late the end came says nothing about
        // how the audio arrives.)
        if self.segment.take().is_none() {
            return;
        }
        let mut converted = std::mem::take(&mut self.converted);
        converted.clear();
        self.converter.flush(&mut converted);
        self.append(&converted);
        self.converted = converted;
        self.hold = None;
        self.pump();
        self.tracker().close_all();
    }

    /// Gives converted frames ring positions (ring first, then the queue).
    fn append(&mut self, frames: &[f32]) {
        let room = self.max_queue.saturating_sub(self.queue.len());
        let frames = if frames.len() > room {
            self.control
                .dropped
                .fetch_add((frames.len() - room) as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped_frames = frames.len() - room,
                "playback queue full: audio dropped (raise PlaybackOptions::max_queued)"
            );
            &frames[..room]
        } else {
            frames
        };
        self.queue.extend(frames);
        self.produced += frames.len() as u64;
        if let Some(e) = self.tracker().current() {
            e.end = self.produced;
        }
        self.pump();
    }

    /// Moves queued frames into the ring.
    fn pump(&mut self) {
        if let Some(until) = self.hold {
            if Instant::now() < until {
                return;
            }
            self.hold = None;
        }
        while !self.queue.is_empty() {
            let (a, _) = self.queue.as_slices();
            let (_, rest) = self.ring.push_partial_slice(a);
            let n = a.len() - rest.len();
            if n == 0 {
                break;
            }
            self.queue.drain(..n);
            self.written += n as u64;
            self.fed_at = Instant::now();
        }
        let s = &self.control.shared;
        s.written.store(self.written, Ordering::Release);
        s.produced.store(self.produced, Ordering::Release);
        self.update_expecting();
    }

    fn update_expecting(&self) {
        // While the start is held back the silence is deliberate, not an underrun.
        let expecting = self.hold.is_none() && (self.segment.is_some() || !self.queue.is_empty());
        self.control
            .shared
            .expecting
            .store(expecting, Ordering::Relaxed);
    }

    /// A `clear()` from the handle: everything sent up to its number goes.
    fn check_clear(&mut self) {
        let upto = self.control.clear_upto.load(Ordering::Acquire);
        if upto > self.cleared {
            self.cleared = upto;
            self.flush_now();
        }
    }

    /// Stops the sound now and cuts the items being played; returns the callback's exact
    /// count of frames heard when it took effect.
    fn flush_now(&mut self) -> u64 {
        let s = &*self.control.shared;
        self.queue.clear();
        self.converter.reset();
        self.segment = None;
        self.hold = None;
        // Positions that never reached the ring are forgotten: the next audio continues
        // the timeline from what the ring holds.
        self.produced = self.written;
        s.produced.store(self.produced, Ordering::Release);
        // Before the skip: the silence after a clear is not an underrun.
        s.expecting.store(false, Ordering::Release);
        let generation = s.skip_gen.load(Ordering::Relaxed) + 1;
        s.skip_to.store(self.written, Ordering::Release);
        s.skip_gen.store(generation, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(1);
        while s.skip_ack.load(Ordering::Acquire) < generation
            && Instant::now() < deadline
            && !s.device_lost.load(Ordering::Acquire)
        {
            std::thread::sleep(Duration::from_micros(500));
        }
        let heard = if s.skip_ack.load(Ordering::Acquire) >= generation {
            s.skip_from.load(Ordering::Acquire)
        } else {
            s.consumed.load(Ordering::Acquire)
        };
        self.tracker().cut_at(heard);
        for r in self.active.drain(..) {
            if self.cancelled.len() == 16 {
                self.cancelled.pop_front();
            }
            self.cancelled.push_back(r);
        }
        self.update_expecting();
        heard
    }

    fn interrupt(&mut self) -> Option<Interruption> {
        let consumed = self.control.shared.consumed.load(Ordering::Acquire);
        let playing = self.tracker().playing(consumed).cloned();
        let in_progress = playing
            .as_ref()
            .and_then(|e| self.active.iter().find(|r| **r == e.response_id).cloned());
        let heard = self.flush_now();
        let e = playing?;
        let played = position::played_frames(&e, heard);
        let rate = self.control.device_rate;
        Some(Interruption {
            audio_end_ms: position::audio_end_ms(played, rate, e.received, e.rate),
            played: Duration::from_nanos(played * 1_000_000_000 / u64::from(rate)),
            item_id: e.item_id,
            content_index: e.content_index,
            response_in_progress: in_progress,
        })
    }

    /// Marks the device lost if its callback has stopped coming for 2 s (a stalled audio
    /// server), so that drains and interruptions fail instead of waiting forever.
    fn watchdog(&mut self) {
        let s = &*self.control.shared;
        let n = s.callbacks.load(Ordering::Relaxed);
        let now = Instant::now();
        if n != self.last_callbacks.0 {
            self.last_callbacks = (n, now);
        } else if now.duration_since(self.last_callbacks.1) > Duration::from_secs(2)
            && !s.device_lost.swap(true, Ordering::AcqRel)
        {
            tracing::warn!("audio output: no device callback for 2 s; playback has stopped");
        }
    }

    fn drains(&mut self) {
        self.watchdog();
        let s = &*self.control.shared;
        let consumed = s.consumed.load(Ordering::Acquire);
        let lost = s.device_lost.load(Ordering::Acquire);
        let latency = Duration::from_nanos(s.output_latency_ns.load(Ordering::Relaxed));
        let now = Instant::now();
        let mut i = 0;
        while i < self.drains.len() {
            let (target, deadline, _) = &mut self.drains[i];
            if lost {
                let (_, _, reply) = self.drains.swap_remove(i);
                let _ = reply.send(Err(Error::AudioDevice {
                    device: self.device_name.clone(),
                    message: "the output device stopped".into(),
                }));
                continue;
            }
            if deadline.is_none() && self.server_playing {
                // More is on its way over the track: the end is what arrives by `stopped`.
                *target = self.produced;
                i += 1;
                continue;
            }
            if deadline.is_none() && consumed >= *target && self.queue.is_empty() {
                // The last frame left the callback; it is heard one output latency later.
                *deadline = Some(now + latency);
            }
            if deadline.is_some_and(|d| now >= d) {
                let (_, _, reply) = self.drains.swap_remove(i);
                let _ = reply.send(Ok(()));
                continue;
            }
            i += 1;
        }
    }
}
