//! The real-time side of playback: what runs inside the device callback.
//!
//! [`Renderer::render`] reads mono samples from a lock-free SPSC ring, applies volume,
//! copies each sample to every channel, and publishes counters through atomics. It never
//! allocates, locks, logs or blocks; a test below checks that no allocation happens.
//!
//! Clearing works by position, not by the producer touching the ring: the feeder asks the
//! callback to skip up to a ring position (`skip_to`, then `skip_gen`); the callback
//! records where it was (`skip_from`, the exact number of frames heard before the clear),
//! discards the rest and acknowledges (`skip_ack`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::{FromSample, Sample};

use crate::audio::clock::Mark;

/// Counters and controls shared by the callback, the feeder thread and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Ring frames taken by the callback (heard or skipped).
    pub consumed: AtomicU64,
    /// Ring frames the callback wrote to the device.
    pub heard: AtomicU64,
    /// Ring frames the feeder has written.
    pub written: AtomicU64,
    /// Frames the feeder has given positions (written, or waiting in its queue).
    pub produced: AtomicU64,
    pub skip_to: AtomicU64,
    pub skip_gen: AtomicU64,
    pub skip_from: AtomicU64,
    pub skip_ack: AtomicU64,
    /// Callbacks that found the ring empty while audio was expected.
    pub underruns: AtomicU64,
    /// When the ring last ran dry (the first callback of a run of underruns), in ns since
    /// `base`.
    pub underrun_ns: AtomicU64,
    /// Set by the feeder while an item is still arriving or queued.
    pub expecting: AtomicBool,
    pub paused: AtomicBool,
    /// Volume as `f32` bits.
    pub volume: AtomicU32,
    pub callbacks: AtomicU64,
    /// When the last callback started, in ns since `base`.
    pub callback_ns: AtomicU64,
    /// Frames in the last callback.
    pub period: AtomicU32,
    /// From a callback to the moment its first frame reaches the device output, in ns.
    pub output_latency_ns: AtomicU64,
    /// Worst callback duration seen, in ns.
    pub max_callback_ns: AtomicU64,
    /// Whether the echo reference tap is wanted.
    pub tap: AtomicBool,
    /// Reference frames lost because nobody read them in time.
    pub tap_overflows: AtomicU64,
    /// The device reported an error that ended the stream.
    pub device_lost: AtomicBool,
    /// Underruns the device itself reported (its buffer ran dry: the callback came late).
    pub xruns: AtomicU64,
    /// Gaps in the device's play times ([`super::gaps`]), reported as underruns or not,
    /// and their total length in ns.
    pub device_gaps: AtomicU64,
    pub device_gap_ns: AtomicU64,
    pub stop: AtomicBool,
    /// The time base of the `_ns` instants below.
    pub base: Instant,
    /// A ring position whose first playing the callback should time (`u64::MAX`: none).
    pub watch_pos: AtomicU64,
    /// When the frame at `watch_pos` left the callback, in ns since `base` (the callback's
    /// start plus the frames ahead of it in that buffer).
    pub watch_hit_ns: AtomicU64,
    /// The `watch_pos` that `watch_hit_ns` times (stored before it).
    pub watch_hit_pos: AtomicU64,
    /// When the audio at `watch_pos` arrived, in ns since `base` (set by the feeder).
    pub watch_arrival_ns: AtomicU64,
}

impl Shared {
    pub(crate) fn new(volume: f32) -> Self {
        Shared {
            consumed: AtomicU64::new(0),
            heard: AtomicU64::new(0),
            written: AtomicU64::new(0),
            produced: AtomicU64::new(0),
            skip_to: AtomicU64::new(0),
            skip_gen: AtomicU64::new(0),
            skip_from: AtomicU64::new(0),
            skip_ack: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            underrun_ns: AtomicU64::new(0),
            expecting: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            volume: AtomicU32::new(volume.to_bits()),
            callbacks: AtomicU64::new(0),
            callback_ns: AtomicU64::new(0),
            period: AtomicU32::new(0),
            output_latency_ns: AtomicU64::new(0),
            max_callback_ns: AtomicU64::new(0),
            tap: AtomicBool::new(false),
            tap_overflows: AtomicU64::new(0),
            device_lost: AtomicBool::new(false),
            xruns: AtomicU64::new(0),
            device_gaps: AtomicU64::new(0),
            device_gap_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            base: Instant::now(),
            watch_pos: AtomicU64::new(u64::MAX),
            watch_hit_ns: AtomicU64::new(0),
            watch_hit_pos: AtomicU64::new(u64::MAX),
            watch_arrival_ns: AtomicU64::new(0),
        }
    }

    /// Times the device lost audio, as far as can be told: an underrun it reports also
    /// shows as a gap in its play times, and either may be missing (a sound server that
    /// drops a cycle says nothing; a backend's play times may not show its xruns), so
    /// the larger count.
    pub(crate) fn dry_spells(&self) -> u64 {
        let xruns = self.xruns.load(Ordering::Relaxed);
        xruns.max(self.device_gaps.load(Ordering::Relaxed))
    }

    pub(crate) fn volume(&self) -> f32 {
        f32::from_bits(self.volume.load(Ordering::Relaxed))
    }
}

/// The callback's state. Built by the feeder, moved into the device callback.
pub(crate) struct Renderer {
    shared: std::sync::Arc<Shared>,
    channels: usize,
    /// The device's frame rate.
    rate: u64,
    cursor: Cursor,
    tap: Tap,
}

/// The read side of the ring and where it is.
struct Cursor {
    ring: rtrb::Consumer<f32>,
    consumed: u64,
    heard: u64,
    seen_gen: u64,
    skipping: bool,
    /// The last callback was an underrun.
    starved: bool,
}

/// What was played, mono, for the echo reference, with a mark per callback.
struct Tap {
    samples: rtrb::Producer<f32>,
    marks: rtrb::Producer<Mark>,
    tapped: u64,
}

impl Renderer {
    pub(crate) fn new(
        ring: rtrb::Consumer<f32>,
        shared: std::sync::Arc<Shared>,
        channels: usize,
        rate: u32,
        tap: rtrb::Producer<f32>,
        marks: rtrb::Producer<Mark>,
    ) -> Self {
        Renderer {
            shared,
            channels: channels.max(1),
            rate: u64::from(rate.max(1)),
            cursor: Cursor {
                ring,
                consumed: 0,
                heard: 0,
                seen_gen: 0,
                skipping: false,
                starved: false,
            },
            tap: Tap {
                samples: tap,
                marks,
                tapped: 0,
            },
        }
    }

    /// Fills one device buffer (interleaved, `channels` per frame). `latency` is how long
    /// after now the first frame will be heard.
    pub(crate) fn render<T: Sample + FromSample<f32>>(&mut self, out: &mut [T], latency: Duration) {
        let began = Instant::now();
        let s = &*self.shared;
        let c = &mut self.cursor;
        let frames = out.len() / self.channels;
        c.skip(s);

        let mut n = 0;
        let volume = s.volume();
        let tapping = s.tap.load(Ordering::Relaxed);
        if !s.paused.load(Ordering::Relaxed) {
            n = frames.min(c.ring.slots());
            if let Ok(chunk) = c.ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                let mut frames_out = out.chunks_exact_mut(self.channels);
                for (&x, frame) in a.iter().chain(b).zip(&mut frames_out) {
                    frame.fill(T::from_sample(x * volume));
                }
                if tapping {
                    self.tap.played(s, a, b, volume, began + latency);
                }
                chunk.commit_all();
            }
            let starved = n < frames && s.expecting.load(Ordering::Relaxed);
            if starved {
                if !c.starved {
                    let at = began.saturating_duration_since(s.base).as_nanos() as u64;
                    s.underrun_ns.store(at, Ordering::Relaxed);
                }
                s.underruns.fetch_add(1, Ordering::Release);
            }
            c.starved = starved;
        }
        for x in &mut out[n * self.channels..] {
            *x = T::EQUILIBRIUM;
        }
        if tapping && n < frames {
            let mark = (n == 0).then_some(began + latency);
            self.tap.silence(s, frames - n, mark);
        }
        let watched = s.watch_pos.load(Ordering::Acquire);
        if watched != u64::MAX && watched < c.consumed + n as u64 {
            if watched >= c.consumed {
                let ahead = (watched - c.consumed) * 1_000_000_000 / self.rate;
                let at = began.saturating_duration_since(s.base).as_nanos() as u64 + ahead;
                s.watch_hit_pos.store(watched, Ordering::Relaxed);
                s.watch_hit_ns.store(at, Ordering::Release);
            }
            s.watch_pos.store(u64::MAX, Ordering::Release);
        }
        c.consumed += n as u64;
        c.heard += n as u64;
        s.consumed.store(c.consumed, Ordering::Release);
        s.heard.store(c.heard, Ordering::Release);
        s.period.store(frames as u32, Ordering::Relaxed);
        s.output_latency_ns
            .store(latency.as_nanos() as u64, Ordering::Relaxed);
        let at = began.saturating_duration_since(s.base).as_nanos() as u64;
        s.callback_ns.store(at, Ordering::Relaxed);
        s.callbacks.fetch_add(1, Ordering::Release);
        let took = began.elapsed().as_nanos() as u64;
        s.max_callback_ns.fetch_max(took, Ordering::Relaxed);
    }
}

impl Cursor {
    /// Honours a clear request: discard up to `skip_to`.
    fn skip(&mut self, s: &Shared) {
        let generation = s.skip_gen.load(Ordering::Acquire);
        if generation != self.seen_gen {
            self.seen_gen = generation;
            s.skip_from.store(self.consumed, Ordering::Release);
            self.skipping = true;
        }
        if !self.skipping {
            return;
        }
        let target = s.skip_to.load(Ordering::Acquire);
        let n = (target.saturating_sub(self.consumed) as usize).min(self.ring.slots());
        if let Ok(chunk) = self.ring.read_chunk(n) {
            chunk.commit_all();
            self.consumed += n as u64;
        }
        if self.consumed >= target {
            self.skipping = false;
            s.consumed.store(self.consumed, Ordering::Release);
            s.skip_ack.store(generation, Ordering::Release);
        }
    }
}

impl Tap {
    fn played(&mut self, s: &Shared, a: &[f32], b: &[f32], volume: f32, at: Instant) {
        let n = a.len() + b.len();
        if self.samples.slots() < n || self.marks.slots() == 0 {
            s.tap_overflows.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _ = self.marks.push(Mark {
            frame: self.tapped,
            at,
        });
        if let Ok(chunk) = self.samples.write_chunk_uninit(n) {
            chunk.fill_from_iter(a.iter().chain(b).map(|x| x * volume));
        }
        self.tapped += n as u64;
    }

    fn silence(&mut self, s: &Shared, n: usize, mark: Option<Instant>) {
        if self.samples.slots() < n || self.marks.slots() == 0 {
            s.tap_overflows.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(at) = mark {
            let _ = self.marks.push(Mark {
                frame: self.tapped,
                at,
            });
        }
        if let Ok(chunk) = self.samples.write_chunk_uninit(n) {
            chunk.fill_from_iter(std::iter::repeat(0.0));
        }
        self.tapped += n as u64;
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // the counting allocator
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::Arc;

    use super::*;

    /// Counts allocations made on threads that asked to be watched.
    struct Counting;
    thread_local! {
        static WATCH: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if WATCH.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    #[global_allocator]
    static ALLOC: Counting = Counting;

    fn feed(tx: &mut rtrb::Producer<f32>, samples: &[f32]) {
        let (_, rest) = tx.push_partial_slice(samples);
        assert!(rest.is_empty());
    }

    fn setup(
        channels: usize,
    ) -> (
        Renderer,
        rtrb::Producer<f32>,
        Arc<Shared>,
        rtrb::Consumer<f32>,
    ) {
        let (tx, rx) = rtrb::RingBuffer::new(4096);
        let (tap_tx, tap_rx) = rtrb::RingBuffer::new(4096);
        let (marks_tx, _marks_rx) = rtrb::RingBuffer::new(64);
        let shared = Arc::new(Shared::new(1.0));
        let r = Renderer::new(rx, shared.clone(), channels, 48_000, tap_tx, marks_tx);
        std::mem::forget(_marks_rx);
        (r, tx, shared, tap_rx)
    }

    #[test]
    fn upmixes_and_converts_and_fills_silence() {
        let (mut r, mut tx, shared, _) = setup(2);
        feed(&mut tx, &[0.5, -0.5, 0.25]);
        let mut out = [7i16; 10];
        r.render(&mut out, Duration::ZERO);
        assert_eq!(out, [16384, 16384, -16384, -16384, 8192, 8192, 0, 0, 0, 0]);
        assert_eq!(shared.heard.load(Ordering::Relaxed), 3);
        let mut out = [1u16; 4];
        feed(&mut tx, &[0.0]);
        r.render(&mut out, Duration::ZERO);
        assert_eq!(out, [32768; 4]);
    }

    #[test]
    fn volume_and_pause() {
        let (mut r, mut tx, shared, _) = setup(1);
        feed(&mut tx, &[0.5, 0.5]);
        shared.volume.store(0.5f32.to_bits(), Ordering::Relaxed);
        shared.paused.store(true, Ordering::Relaxed);
        let mut out = [1.0f32; 1];
        r.render(&mut out, Duration::ZERO);
        assert_eq!(out, [0.0]);
        shared.paused.store(false, Ordering::Relaxed);
        r.render(&mut out, Duration::ZERO);
        assert_eq!(out, [0.25]);
    }

    #[test]
    fn underruns_count_only_while_audio_is_expected() {
        let (mut r, _tx, shared, _) = setup(1);
        let mut out = [0.0f32; 8];
        r.render(&mut out, Duration::ZERO);
        assert_eq!(shared.underruns.load(Ordering::Relaxed), 0);
        shared.expecting.store(true, Ordering::Relaxed);
        r.render(&mut out, Duration::ZERO);
        assert_eq!(shared.underruns.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_run_of_underruns_is_timed_from_its_first_callback() {
        let (mut r, mut tx, shared, _) = setup(1);
        shared.expecting.store(true, Ordering::Relaxed);
        let mut out = [0.0f32; 8];
        r.render(&mut out, Duration::ZERO);
        let first = shared.underrun_ns.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
        r.render(&mut out, Duration::ZERO);
        assert_eq!(shared.underruns.load(Ordering::Relaxed), 2);
        assert_eq!(shared.underrun_ns.load(Ordering::Relaxed), first);
        // Audio again, then dry again: a new run, timed anew.
        feed(&mut tx, &[0.1; 8]);
        r.render(&mut out, Duration::ZERO);
        r.render(&mut out, Duration::ZERO);
        assert!(shared.underrun_ns.load(Ordering::Relaxed) > first);
    }

    #[test]
    fn skip_discards_up_to_the_position_and_records_where_it_was() {
        let (mut r, mut tx, shared, _) = setup(1);
        feed(&mut tx, &[0.1; 100]);
        let mut out = [0.0f32; 30];
        r.render(&mut out, Duration::ZERO);
        // The feeder clears at 100 and then writes the next response.
        shared.skip_to.store(100, Ordering::Release);
        shared.skip_gen.store(1, Ordering::Release);
        feed(&mut tx, &[0.9; 10]);
        r.render(&mut out, Duration::ZERO);
        assert_eq!(shared.skip_from.load(Ordering::Acquire), 30);
        assert_eq!(shared.skip_ack.load(Ordering::Acquire), 1);
        assert_eq!(&out[..10], &[0.9; 10]);
        assert_eq!(&out[10..], &[0.0; 20]);
        assert_eq!(shared.heard.load(Ordering::Relaxed), 40);
        assert_eq!(shared.consumed.load(Ordering::Relaxed), 110);
    }

    #[test]
    fn tap_keeps_what_was_played_including_silence() {
        let (mut r, mut tx, shared, mut tap) = setup(2);
        shared.tap.store(true, Ordering::Relaxed);
        shared.volume.store(0.5f32.to_bits(), Ordering::Relaxed);
        feed(&mut tx, &[0.5, 1.0]);
        let mut out = [0.0f32; 8];
        r.render(&mut out, Duration::ZERO);
        let mut got = [9.0f32; 4];
        let _ = tap.pop_partial_slice(&mut got);
        assert_eq!(got, [0.25, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn the_callback_does_not_allocate() {
        let (mut r, mut tx, shared, mut tap) = setup(2);
        shared.tap.store(true, Ordering::Relaxed);
        shared.expecting.store(true, Ordering::Relaxed);
        let mut out = vec![0i16; 960];
        let mut sink = vec![0.0f32; 4096];
        WATCH.with(|w| w.set(true));
        // The counter works: one allocation on this thread is seen.
        drop(std::hint::black_box(vec![1u8; 16]));
        assert_eq!(COUNT.with(Cell::get), 1);
        COUNT.with(|c| c.set(0));
        for i in 0..200u64 {
            feed(&mut tx, &[0.3; 300]);
            if i % 50 == 0 {
                shared
                    .skip_to
                    .store(shared.written.load(Ordering::Relaxed), Ordering::Release);
                shared.skip_gen.store(i + 1, Ordering::Release);
            }
            r.render(&mut out, Duration::from_millis(10));
            let _ = tap.pop_partial_slice(&mut sink);
        }
        WATCH.with(|w| w.set(false));
        assert_eq!(COUNT.with(Cell::get), 0, "allocations inside render");
    }
}
