//! G.711 on the audio track: PCMU (μ-law) and PCMA (A-law), 8 kHz, 20 ms (160 bytes) a
//! packet (RFC 3551). The session's audio is 24 kHz, so it goes down by three before
//! coding and up by three after decoding, through one linear-phase low-pass filter
//! (3.5 kHz, within the 4 kHz that 8 kHz can carry). Public only for the benchmarks.

use crate::realtime::codec::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};

/// Bytes (and 8 kHz samples) in one 20 ms packet.
pub const PACKET: usize = 160;
/// RTP clock ticks in one packet (8 kHz).
pub const PACKET_TICKS: u64 = PACKET as u64;
/// The filter's length at 24 kHz: a multiple of 3, for the three phases going up.
const TAPS: usize = 96;
const PHASE_TAPS: usize = TAPS / 3;

/// Which of the two laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// μ-law (PCMU).
    Mu,
    /// A-law (PCMA).
    A,
}

impl Law {
    fn encode(self, sample: f32) -> u8 {
        let s = sample.round().clamp(-32768.0, 32767.0) as i16;
        match self {
            Law::Mu => ulaw_encode(s),
            Law::A => alaw_encode(s),
        }
    }

    fn decode(self, byte: u8) -> f32 {
        f32::from(match self {
            Law::Mu => ulaw_decode(byte),
            Law::A => alaw_decode(byte),
        })
    }
}

/// The low-pass filter both ways: a Blackman-windowed sinc at 3.5 kHz of 24 kHz, unit
/// gain at 0 Hz. Symmetric, so it reads the same both ways.
fn lowpass() -> [f32; TAPS] {
    let cutoff = 3_500.0 / 24_000.0;
    let middle = (TAPS - 1) as f64 / 2.0;
    let mut taps = [0.0f64; TAPS];
    for (k, tap) in taps.iter_mut().enumerate() {
        let t = k as f64 - middle;
        let x = 2.0 * cutoff * t;
        let sinc = if x == 0.0 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        };
        let phase = 2.0 * std::f64::consts::PI * k as f64 / (TAPS - 1) as f64;
        let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
        *tap = sinc * window;
    }
    let sum: f64 = taps.iter().sum();
    taps.map(|t| (t / sum) as f32)
}

/// The last `N` samples, oldest first, without shifting: each sample is written twice,
/// so the window is always one contiguous slice.
struct History<const N: usize> {
    buf: Vec<f32>,
    at: usize,
}

impl<const N: usize> History<N> {
    fn new() -> Self {
        History {
            buf: vec![0.0; 2 * N],
            at: 0,
        }
    }

    /// Adds `x` and returns the window that ends with it.
    fn push(&mut self, x: f32) -> &[f32] {
        self.buf[self.at] = x;
        self.buf[self.at + N] = x;
        self.at = (self.at + 1) % N;
        &self.buf[self.at..self.at + N]
    }

    fn clear(&mut self) {
        self.buf.fill(0.0);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// 24 kHz PCM in, G.711 packets out.
pub struct G711Encoder {
    law: Law,
    taps: [f32; TAPS],
    history: History<TAPS>,
    /// Which of each three input samples is kept (the filter runs only for those).
    phase: usize,
    packet: Vec<u8>,
}

impl G711Encoder {
    /// An encoder for `law`, with silence behind it.
    pub fn new(law: Law) -> Self {
        G711Encoder {
            law,
            taps: lowpass(),
            history: History::new(),
            phase: 0,
            packet: Vec::with_capacity(PACKET),
        }
    }

    /// The law it codes in.
    pub fn law(&self) -> Law {
        self.law
    }

    /// Adds 24 kHz `pcm` and calls `out` with each whole 20 ms packet it completes.
    pub fn push(&mut self, pcm: &[i16], mut out: impl FnMut(&[u8])) {
        for &s in pcm {
            let window = self.history.push(f32::from(s));
            self.phase += 1;
            if self.phase < 3 {
                continue;
            }
            self.phase = 0;
            let y = dot(&self.taps, window);
            self.packet.push(self.law.encode(y));
            if self.packet.len() == PACKET {
                out(&self.packet);
                self.packet.clear();
            }
        }
    }

    /// Drops what waits for a whole packet (the input was cleared).
    pub fn clear(&mut self) {
        self.packet.clear();
        self.history.clear();
        self.phase = 0;
    }
}

impl std::fmt::Debug for G711Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G711Encoder")
            .field("law", &self.law)
            .field("pending", &self.packet.len())
            .finish_non_exhaustive()
    }
}

/// G.711 packets in, 24 kHz PCM out.
pub struct G711Decoder {
    /// The filter split by output phase, each reversed to meet the history oldest first.
    phases: [[f32; PHASE_TAPS]; 3],
    history: History<PHASE_TAPS>,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for G711Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G711Decoder").finish_non_exhaustive()
    }
}

impl Default for G711Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G711Decoder {
    /// A decoder with silence behind it.
    pub fn new() -> Self {
        let taps = lowpass();
        let mut phases = [[0.0; PHASE_TAPS]; 3];
        for (p, phase) in phases.iter_mut().enumerate() {
            for (i, tap) in phase.iter_mut().enumerate() {
                // Three times the gain: two of each three samples going in are zeros.
                *tap = 3.0 * taps[3 * (PHASE_TAPS - 1 - i) + p];
            }
        }
        G711Decoder {
            phases,
            history: History::new(),
            pcm: Vec::with_capacity(3 * PACKET),
        }
    }

    /// The 24 kHz PCM of one packet (any length: a byte is a sample).
    pub fn decode(&mut self, law: Law, packet: &[u8]) -> &[i16] {
        self.pcm.clear();
        for &byte in packet {
            let window = self.history.push(law.decode(byte));
            for phase in &self.phases {
                let y = dot(phase, window).round().clamp(-32768.0, 32767.0);
                self.pcm.push(y as i16);
            }
        }
        &self.pcm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 24_000.0).sin() * 10_000.0) as i16)
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    fn round_trip(law: Law, input: &[i16]) -> (usize, Vec<i16>) {
        let mut enc = G711Encoder::new(law);
        let mut dec = G711Decoder::new();
        let mut packets = 0;
        let mut out = Vec::new();
        for piece in input.chunks(333) {
            enc.push(piece, |p| {
                assert_eq!(p.len(), PACKET);
                packets += 1;
                out.extend_from_slice(dec.decode(law, p));
            });
        }
        (packets, out)
    }

    #[test]
    fn speech_band_comes_back_within_g711_noise() {
        for law in [Law::Mu, Law::A] {
            let input = tone(1_000.0, 24_000);
            let (packets, out) = round_trip(law, &input);
            assert_eq!(packets, 50, "{law:?}");
            assert_eq!(out.len(), input.len());
            // Each filter delays by (TAPS - 1) / 2; the encoder keeps the last of each
            // three samples, two earlier than the third's centre: 93 samples in all.
            let delay = TAPS - 3;
            let (a, b) = (&input[2_000..22_000], &out[2_000 + delay..22_000 + delay]);
            let noise: Vec<i16> = a.iter().zip(b).map(|(x, y)| x - y).collect();
            let snr = 20.0 * (rms(a) / rms(&noise)).log10();
            // G.711 itself gives about 38 dB on a loud tone.
            assert!(snr > 30.0, "{law:?}: {snr:.1} dB");
        }
    }

    #[test]
    fn what_8_khz_cannot_carry_is_filtered_not_folded() {
        // 6 kHz would fold to 2 kHz at 8 kHz if it went through unfiltered.
        let input = tone(6_000.0, 24_000);
        let (_, out) = round_trip(Law::Mu, &input);
        let drop = 20.0 * (rms(&out[2_000..]) / rms(&input[2_000..])).log10();
        assert!(drop < -40.0, "{drop:.1} dB");
    }

    #[test]
    fn clearing_drops_the_part_packet() {
        let mut enc = G711Encoder::new(Law::A);
        let mut n = 0;
        enc.push(&[1_000; 300], |_| n += 1);
        enc.clear();
        enc.push(&[1_000; 3 * PACKET - 1], |_| n += 1);
        assert_eq!(n, 0);
        enc.push(&[1_000; 1], |_| n += 1);
        assert_eq!(n, 1);
    }
}
