//! The far-end reference for echo cancellation: what the device actually played.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::callback::Shared;
use crate::Error;
use crate::audio::clock::{DeviceClock, Mark};
use crate::audio::resample::Converter;
use crate::audio::{FRAME, RATE};

/// 10 ms of what the output device played, as mono 24 kHz ([`FRAME`] samples at
/// [`RATE`]), with when it was played.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceFrame {
    /// The samples, after volume, in −1.0 ..= 1.0 (silence included: the stream is
    /// continuous while the device runs).
    pub samples: [f32; FRAME],
    /// When the first sample reached the device output (the callback's estimate).
    pub played_at: Instant,
}

/// The far-end signal for an echo canceller, from [`Playback::echo_reference`].
///
/// Frames arrive continuously while the output runs, in order, about 10 ms apart. The
/// queue holds one second; if it is not read, newer frames are dropped and counted in
/// [`PlaybackMetrics::reference_dropped`](crate::audio::PlaybackMetrics::reference_dropped).
/// Dropping it turns the tap off.
///
/// [`Playback::echo_reference`]: crate::audio::Playback::echo_reference
pub struct EchoReference {
    rx: rtrb::Consumer<ReferenceFrame>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EchoReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoReference")
            .field("available", &self.rx.slots())
            .finish()
    }
}

impl EchoReference {
    /// The next frame, if one is ready. Never blocks.
    pub fn pop(&mut self) -> Option<ReferenceFrame> {
        self.rx.pop().ok()
    }

    /// How many frames are ready.
    pub fn available(&self) -> usize {
        self.rx.slots()
    }

    /// How many times the output device has lost audio so far: the larger of
    /// [`PlaybackMetrics::device_underruns`](crate::audio::PlaybackMetrics::device_underruns)
    /// and [`PlaybackMetrics::device_gaps`](crate::audio::PlaybackMetrics::device_gaps).
    /// Each one is a gap in what was played, which can move the echo path against these
    /// frames: an echo canceller should expect to find it again.
    pub fn device_underruns(&self) -> u64 {
        self.shared.dry_spells()
    }

    /// Whether playback is still running (frames may still come).
    pub fn is_active(&self) -> bool {
        !self.shared.stop.load(Ordering::Acquire)
            && !self.shared.device_lost.load(Ordering::Acquire)
    }
}

impl Drop for EchoReference {
    fn drop(&mut self) {
        self.shared.tap.store(false, Ordering::Release);
    }
}

/// Frames kept for a slow reader.
const QUEUE: usize = 100;

/// The feeder's half: turns the callback's tap (device rate) into reference frames.
pub(crate) struct ReferenceTap {
    tap: rtrb::Consumer<f32>,
    marks: rtrb::Consumer<Mark>,
    out: Option<rtrb::Producer<ReferenceFrame>>,
    shared: Arc<Shared>,
    converter: Converter,
    device_rate: u32,
    /// Device-rate frames read from the tap so far.
    tapped: u64,
    /// 24 kHz frames produced so far (the index of `pending[0]` is `made - pending.len()`).
    made: u64,
    clock: DeviceClock,
    scratch: Vec<f32>,
    pending: Vec<f32>,
}

impl ReferenceTap {
    pub(crate) fn new(
        tap: rtrb::Consumer<f32>,
        marks: rtrb::Consumer<Mark>,
        shared: Arc<Shared>,
        device_rate: u32,
    ) -> Result<Self, Error> {
        Ok(ReferenceTap {
            tap,
            marks,
            out: None,
            shared,
            converter: Converter::new(device_rate, RATE)?,
            device_rate,
            tapped: 0,
            made: 0,
            clock: DeviceClock::new(device_rate),
            scratch: vec![0.0; 4096],
            pending: Vec::new(),
        })
    }

    /// Starts the tap and returns the consumer (once).
    pub(crate) fn take(&mut self) -> Option<EchoReference> {
        if self.out.is_some() {
            return None;
        }
        let (tx, rx) = rtrb::RingBuffer::new(QUEUE);
        self.out = Some(tx);
        self.shared.tap.store(true, Ordering::Release);
        Some(EchoReference {
            rx,
            shared: self.shared.clone(),
        })
    }

    /// Moves what the callback tapped into reference frames.
    pub(crate) fn pump(&mut self) {
        while let Ok(m) = self.marks.pop() {
            self.clock.follow(m.frame, m.at);
        }
        loop {
            let (got, _) = self.tap.pop_partial_slice(&mut self.scratch);
            let n = got.len();
            if n == 0 {
                break;
            }
            self.tapped += n as u64;
            self.converter.push(&self.scratch[..n], &mut self.pending);
        }
        let Some(out) = self.out.as_mut() else {
            self.pending.clear();
            return;
        };
        let mut used = 0;
        while self.pending.len() - used >= FRAME {
            let index = self.made;
            let mut samples = [0.0; FRAME];
            samples.copy_from_slice(&self.pending[used..used + FRAME]);
            used += FRAME;
            self.made += FRAME as u64;
            let device_frame = index as f64 * f64::from(self.device_rate) / f64::from(RATE);
            let played_at = self.clock.at(device_frame).unwrap_or_else(Instant::now);
            if out.push(ReferenceFrame { samples, played_at }).is_err() {
                self.shared.tap_overflows.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.pending.drain(..used);
    }
}
