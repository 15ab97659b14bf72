//! The real-time side of capture: what runs inside the input device callback.
//!
//! [`Writer::write`] converts one callback's samples to `f32` and copies them into a
//! lock-free ring, with a mark per callback (its first frame's index and when the
//! callback ran). No allocation, lock, log or block.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::{FromSample, Sample};

use crate::audio::clock::Mark;

/// Counters the input side writes.
#[derive(Debug, Default)]
pub(crate) struct InputShared {
    /// Frames lost because the ring was full (the processing thread fell behind).
    pub dropped: AtomicU64,
    /// From capture to callback, as the device reports it, in ns.
    pub input_latency_ns: AtomicU64,
    /// The source has ended (end of the WAV file, or the device failed).
    pub ended: AtomicBool,
    pub device_lost: AtomicBool,
    /// Overruns the device itself reported (its buffer filled: the callback came late).
    pub xruns: AtomicU64,
}

/// The ring writer inside a callback.
pub(crate) struct Writer {
    ring: rtrb::Producer<f32>,
    marks: rtrb::Producer<Mark>,
    channels: usize,
    frames: u64,
    shared: Arc<InputShared>,
}

impl Writer {
    pub(crate) fn new(
        ring: rtrb::Producer<f32>,
        marks: rtrb::Producer<Mark>,
        channels: usize,
        shared: Arc<InputShared>,
    ) -> Self {
        Writer {
            ring,
            marks,
            channels: channels.max(1),
            frames: 0,
            shared,
        }
    }

    /// Copies one callback's samples (interleaved) into the ring.
    pub(crate) fn write<T: Sample>(&mut self, data: &[T], latency: Duration)
    where
        f32: FromSample<T>,
    {
        let at = Instant::now();
        let frames = data.len() / self.channels;
        let room = self.ring.slots() / self.channels;
        let n = frames.min(room);
        if n < frames {
            self.shared
                .dropped
                .fetch_add((frames - n) as u64, Ordering::Relaxed);
        }
        if n == 0 {
            return;
        }
        let _ = self.marks.push(Mark {
            frame: self.frames,
            at,
        });
        if let Ok(chunk) = self.ring.write_chunk_uninit(n * self.channels) {
            chunk.fill_from_iter(
                data[..n * self.channels]
                    .iter()
                    .map(|&x| f32::from_sample(x)),
            );
        }
        self.frames += n as u64;
        self.shared
            .input_latency_ns
            .store(latency.as_nanos() as u64, Ordering::Relaxed);
    }
}
