//! Sample-rate conversion glue around rubato's FFT resampler.
//!
//! [`Converter`] takes mono audio in pieces of any length and returns it at another rate.
//! The resampler's own delay is trimmed off the front and the tail is flushed on demand,
//! so `n` input frames always come out as exactly `round(n × to / from)` frames, aligned
//! with the input: sample positions map one to one between the two timelines, which is
//! what played-position tracking and the echo reference rely on.
//!
//! The resampler works in blocks of [`BLOCK_MS`] on its fixed side: its delay is half a
//! block, and a fixed input side waits for a whole block before converting it, so both
//! add to the latency of every turn. 5 ms keeps the anti-aliasing cutoff at about 0.89 of
//! the lower rate's Nyquist frequency (10.7 kHz between 24 and 48 kHz), above nearly all
//! of a voice's energy, for a delay of 2.5 ms (10 ms blocks: 0.94, 5 ms).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::Error;

/// The block on the resampler's fixed side, in ms (see the module docs).
const BLOCK_MS: u32 = 5;

/// Mono sample-rate converter with exact lengths (see the module docs).
pub(crate) struct Converter {
    from: u32,
    to: u32,
    inner: Option<Fft<f32>>,
    /// Input waiting for a full chunk, from `start`.
    pending: Vec<f32>,
    start: usize,
    /// Output scratch, one chunk long.
    scratch: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    skip: usize,
    /// Input frames taken and output frames given since the last flush.
    taken: u64,
    given: u64,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Converter {
    /// A converter from `from` Hz to `to` Hz producing output in blocks of [`BLOCK_MS`]
    /// (for playback: the device side is fixed).
    pub(crate) fn new(from: u32, to: u32) -> Result<Self, Error> {
        Self::with_fixed(from, to, FixedSync::Output)
    }

    /// A converter taking input in blocks of [`BLOCK_MS`] (for capture: the device side is
    /// fixed).
    pub(crate) fn fixed_input(from: u32, to: u32) -> Result<Self, Error> {
        Self::with_fixed(from, to, FixedSync::Input)
    }

    fn with_fixed(from: u32, to: u32, fixed: FixedSync) -> Result<Self, Error> {
        let inner = if from == to {
            None
        } else {
            let side = if fixed == FixedSync::Input { from } else { to };
            let chunk = (side as usize * BLOCK_MS as usize / 1000).max(1);
            let fft =
                Fft::<f32>::new(from as usize, to as usize, chunk, 1, fixed).map_err(|e| {
                    Error::InvalidOption {
                        option: "sample_rate",
                        message: format!("cannot convert {from} Hz to {to} Hz: {e}"),
                    }
                })?;
            Some(fft)
        };
        let (scratch, skip) = match &inner {
            Some(r) => (vec![0.0; r.output_frames_max()], r.output_delay()),
            None => (Vec::new(), 0),
        };
        Ok(Converter {
            from,
            to,
            inner,
            pending: Vec::new(),
            start: 0,
            scratch,
            skip,
            taken: 0,
            given: 0,
        })
    }

    /// The input rate.
    pub(crate) fn input_rate(&self) -> u32 {
        self.from
    }

    /// The resampler's delay in output frames: how long the tail of a push waits for the
    /// next input (or a flush) before it comes out.
    pub(crate) fn delay_frames(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Converts `input`, appending what is ready to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.taken += input.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            self.given += input.len() as u64;
            out.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        loop {
            let need = r.input_frames_next();
            if self.pending.len() - self.start < need {
                break;
            }
            let chunk = &self.pending[self.start..self.start + need];
            let (used, made) = run(r, chunk, None, &mut self.scratch);
            self.start += used;
            emit(&self.scratch[..made], &mut self.skip, &mut self.given, out);
        }
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
    }

    /// Emits everything still inside (the partial chunk and the resampler's delay), so the
    /// output since the last flush is exactly `round(input × to / from)` frames, then
    /// starts afresh.
    pub(crate) fn flush(&mut self, out: &mut Vec<f32>) {
        let expected =
            (self.taken * u64::from(self.to) + u64::from(self.from) / 2) / u64::from(self.from);
        if let Some(r) = self.inner.as_mut() {
            let mut rest = self.pending.len() - self.start;
            let mut guard = 0;
            while self.given < expected && guard < 64 {
                guard += 1;
                let need = r.input_frames_next();
                let take = rest.min(need);
                let mut chunk = vec![0.0f32; need];
                chunk[..take].copy_from_slice(&self.pending[self.start..self.start + take]);
                let indexing = Indexing {
                    partial_len: Some(take),
                    ..Indexing::default()
                };
                let (_, made) = run(r, &chunk, Some(&indexing), &mut self.scratch);
                self.start += take;
                rest -= take;
                let room = (expected - self.given) as usize;
                let before = self.given;
                emit(&self.scratch[..made], &mut self.skip, &mut self.given, out);
                if self.given - before > room as u64 {
                    let extra = (self.given - before - room as u64) as usize;
                    out.truncate(out.len() - extra);
                    self.given = expected;
                }
            }
        }
        self.reset();
    }

    /// Drops everything inside and starts afresh.
    pub(crate) fn reset(&mut self) {
        if let Some(r) = self.inner.as_mut() {
            r.reset();
            self.skip = r.output_delay();
        }
        self.pending.clear();
        self.start = 0;
        self.taken = 0;
        self.given = 0;
    }
}

fn run(
    r: &mut Fft<f32>,
    input: &[f32],
    indexing: Option<&Indexing>,
    out: &mut [f32],
) -> (usize, usize) {
    // The buffers are sized from the resampler's own figures, so neither adapter nor
    // process call can fail; a failure would be a bug in this glue.
    let inp = InterleavedSlice::new(input, 1, input.len()).expect("input adapter");
    let frames = out.len();
    let mut outp = InterleavedSlice::new_mut(out, 1, frames).expect("output adapter");
    r.process_into_buffer(&inp, &mut outp, indexing)
        .expect("resampler buffers sized from its own figures")
}

fn emit(made: &[f32], skip: &mut usize, given: &mut u64, out: &mut Vec<f32>) {
    let drop = (*skip).min(made.len());
    *skip -= drop;
    out.extend_from_slice(&made[drop..]);
    *given += (made.len() - drop) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    fn convert_in_pieces(from: u32, to: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut c = if from > to {
            Converter::fixed_input(from, to).unwrap()
        } else {
            Converter::new(from, to).unwrap()
        };
        let mut out = Vec::new();
        for p in input.chunks(piece) {
            c.push(p, &mut out);
        }
        c.flush(&mut out);
        out
    }

    #[test]
    fn lengths_are_exact_for_any_piece_size() {
        for (from, to) in [
            (24_000, 48_000),
            (24_000, 44_100),
            (48_000, 24_000),
            (44_100, 24_000),
            (8_000, 48_000),
        ] {
            for n in [1usize, 239, 240, 2_400, 12_345] {
                for piece in [7usize, 240, 1_000] {
                    let out = convert_in_pieces(from, to, &vec![0.1; n], piece);
                    let expected = (n as u64 * to as u64 + from as u64 / 2) / from as u64;
                    assert_eq!(
                        out.len() as u64,
                        expected,
                        "{from}->{to}, n {n}, piece {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn delay_is_at_most_a_few_ms() {
        let ms = |c: &Converter, rate: u32| c.delay_frames() as f64 * 1000.0 / f64::from(rate);
        assert_eq!(ms(&Converter::new(24_000, 48_000).unwrap(), 48_000), 2.5);
        assert_eq!(
            ms(&Converter::fixed_input(48_000, 24_000).unwrap(), 24_000),
            2.5
        );
        assert!(ms(&Converter::new(24_000, 44_100).unwrap(), 44_100) <= 3.4);
        assert!(ms(&Converter::fixed_input(44_100, 24_000).unwrap(), 24_000) <= 3.4);
    }

    #[test]
    fn speech_band_passes_through() {
        // An 8 kHz tone, near the top of what a voice carries, comes through 24 → 48 kHz
        // and back with its level and shape.
        let input = sine(24_000, 8_000.0, 4_800);
        let up = convert_in_pieces(24_000, 48_000, &input, 480);
        assert!(
            up[960..8_640]
                .iter()
                .zip(&sine(48_000, 8_000.0, 9_600)[960..8_640])
                .all(|(a, b)| (a - b).abs() < 0.02)
        );
        let down = convert_in_pieces(48_000, 24_000, &up, 512);
        let err: f32 = down[480..4_320]
            .iter()
            .zip(&input[480..4_320])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.03, "max error {err}");
    }

    #[test]
    fn every_pair_of_rates_keeps_a_tone() {
        for (from, to) in [
            (24_000, 48_000),
            (24_000, 44_100),
            (48_000, 24_000),
            (44_100, 24_000),
            (24_000, 8_000),
        ] {
            let n = from as usize / 5;
            let out = convert_in_pieces(from, to, &sine(from, 440.0, n), 333);
            let want = sine(to, 440.0, out.len());
            let edge = to as usize / 50;
            let err: f32 = out[edge..out.len() - edge]
                .iter()
                .zip(&want[edge..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.01, "{from} -> {to}: max error {err}");
        }
    }

    #[test]
    fn same_rate_is_a_copy() {
        let input = sine(24_000, 440.0, 1000);
        assert_eq!(convert_in_pieces(24_000, 24_000, &input, 333), input);
    }

    #[test]
    fn output_is_aligned_with_input() {
        // A 440 Hz tone at 24 kHz upsampled to 48 kHz matches the same tone generated at
        // 48 kHz sample for sample (after the edges), i.e. the delay is trimmed exactly.
        let input = sine(24_000, 440.0, 4_800);
        let out = convert_in_pieces(24_000, 48_000, &input, 480);
        let reference = sine(48_000, 440.0, 9_600);
        let err: f32 = out[960..8_640]
            .iter()
            .zip(&reference[960..8_640])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn flush_starts_afresh() {
        let mut c = Converter::new(24_000, 44_100).unwrap();
        let mut out = Vec::new();
        c.push(&[0.2; 500], &mut out);
        c.flush(&mut out);
        let first = out.len();
        c.push(&[0.2; 500], &mut out);
        c.flush(&mut out);
        assert_eq!(out.len(), 2 * first);
        assert_eq!(first, 919);
    }
}
