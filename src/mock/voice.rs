//! A synthetic, voice-like signal: a 24 kHz PCM16 "speaker" whose pitch, harmonics and
//! syllable rhythm look like speech to a level meter, a VAD or an echo canceller; and the
//! audio formats the simulator reads and writes.

use std::f32::consts::TAU;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::realtime::codec;

/// Output sample rate of the simulator's audio.
pub const RATE: u32 = 24_000;

/// Speech-like audio for `text`: about 65 ms per character, one syllable every ~4 Hz,
/// pauses between words. Deterministic for the same text.
pub fn synthesize(text: &str) -> Vec<i16> {
    let chars = text.chars().count().max(1);
    let total = (chars as f32 * 0.065 * RATE as f32) as usize;
    let mut out = Vec::with_capacity(total);
    let word_lengths: Vec<usize> = text
        .split_whitespace()
        .map(|w| w.chars().count() + 1)
        .collect();
    let mut boundaries = Vec::new();
    let mut acc = 0usize;
    for len in word_lengths {
        acc += len;
        boundaries.push(acc as f32 / chars as f32);
    }
    let mut phase = 0.0f32;
    for n in 0..total {
        let t = n as f32 / RATE as f32;
        let pos = n as f32 / total as f32;
        // A short pause around each word boundary, faded in and out: a hard gate would
        // click (a broadband line on a spectrogram) at every gap.
        let from_gap = boundaries
            .iter()
            .map(|b| (pos - b).abs() * total as f32 / RATE as f32)
            .fold(f32::INFINITY, f32::min);
        let syllable = (0.5 - 0.5 * (TAU * 4.0 * t).cos()).powf(0.7);
        let envelope = syllable * gap_gain(from_gap);
        let f0 = 140.0 + 12.0 * (TAU * 5.0 * t).sin() + 20.0 * (TAU * 0.7 * t).sin();
        phase = (phase + TAU * f0 / RATE as f32) % TAU;
        let mut s = 0.0;
        for (h, amp) in [(1.0, 1.0), (2.0, 0.6), (3.0, 0.4), (4.0, 0.25), (5.0, 0.15)] {
            s += amp * (phase * h).sin();
        }
        out.push((s / 2.4 * envelope * 9000.0) as i16);
    }
    out
}

/// Half the silence at a word boundary, in seconds.
const GAP: f32 = 0.03;
/// The fade into and out of that silence, in seconds.
const FADE: f32 = 0.012;

/// Gain at `from_gap` seconds from a word boundary: 0 inside the gap, a raised-cosine
/// fade over [`FADE`], then 1, so the envelope never jumps.
fn gap_gain(from_gap: f32) -> f32 {
    if from_gap <= GAP {
        0.0
    } else if from_gap >= GAP + FADE {
        1.0
    } else {
        0.5 - 0.5 * (std::f32::consts::PI * (from_gap - GAP) / FADE).cos()
    }
}

/// The wire format of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// PCM16 LE, 24 kHz.
    Pcm,
    /// G.711 μ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
}

/// [`synthesize`]d speech for `text`, shared: every session speaking the same text at the
/// same time holds one copy (a reply's audio is the simulator's largest allocation).
pub(crate) fn speech(text: &str) -> Arc<[i16]> {
    static SPOKEN: Mutex<Vec<(String, Weak<[i16]>)>> = Mutex::new(Vec::new());
    let find = |spoken: &mut Vec<(String, Weak<[i16]>)>| {
        spoken.retain(|(_, pcm)| pcm.strong_count() > 0);
        spoken
            .iter()
            .find(|(t, _)| t == text)
            .and_then(|(_, pcm)| pcm.upgrade())
    };
    if let Some(pcm) = find(&mut SPOKEN.lock().unwrap_or_else(PoisonError::into_inner)) {
        return pcm;
    }
    // Synthesised without the lock held; a session that raced us may have stored it.
    let pcm: Arc<[i16]> = synthesize(text).into();
    let mut spoken = SPOKEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(theirs) = find(&mut spoken) {
        return theirs;
    }
    spoken.push((text.to_owned(), Arc::downgrade(&pcm)));
    pcm
}

/// A piece of a reply's audio, encoded only when its `response.output_audio.delta` is
/// sent, so a planned response holds samples shared with every session saying the same
/// thing instead of its whole reply as base64.
#[derive(Clone)]
pub(crate) struct Samples {
    pub(crate) pcm: Arc<[i16]>,
    pub(crate) range: Range<usize>,
    pub(crate) format: Format,
}

impl Samples {
    /// The piece in its format, as base64.
    pub(crate) fn base64(&self) -> String {
        let pcm = self.pcm.get(self.range.clone()).unwrap_or_default();
        base64_simd::STANDARD.encode_to_string(encode(self.format, pcm))
    }
}

/// Encodes 24 kHz samples in `format` (G.711 is averaged down to 8 kHz).
pub(crate) fn encode(format: Format, pcm: &[i16]) -> Vec<u8> {
    let g711: fn(i16) -> u8 = match format {
        Format::Pcm => return pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
        Format::Pcmu => codec::ulaw_encode,
        Format::Pcma => codec::alaw_encode,
    };
    pcm.chunks(3)
        .map(|c| g711((c.iter().map(|&s| s as i32).sum::<i32>() / c.len() as i32) as i16))
        .collect()
}

/// How long base64 audio in `format` plays, in µs.
pub(crate) fn base64_duration_us(format: Format, b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    let bytes = (b64.len() / 4 * 3).saturating_sub(padding) as u64;
    let bytes_per_second = match format {
        Format::Pcm => 2 * RATE as u64,
        Format::Pcmu | Format::Pcma => 8_000,
    };
    bytes * 1_000_000 / bytes_per_second
}

/// Input audio as 24 kHz samples: PCM16 as it is, G.711 decoded and repeated ×3.
pub(crate) fn to_pcm24(format: Format, bytes: &[u8]) -> Vec<i16> {
    let decode: fn(u8) -> i16 = match format {
        Format::Pcm => {
            return bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        Format::Pcmu => codec::ulaw_decode,
        Format::Pcma => codec::alaw_decode,
    };
    bytes.iter().flat_map(|&b| [decode(b); 3]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_shared_while_held_and_freed_after() {
        let text = "shared speech for this test alone";
        let a = speech(text);
        let b = speech(text);
        assert!(Arc::ptr_eq(&a, &b), "one copy while held");
        assert_eq!(*a, *synthesize(text));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert_eq!(weak.strong_count(), 0, "freed when no session holds it");
        let piece = Samples {
            pcm: speech(text),
            range: 0..3,
            format: Format::Pcm,
        };
        let bytes = base64_simd::STANDARD.decode_to_vec(piece.base64()).unwrap();
        assert_eq!(bytes, encode(Format::Pcm, &synthesize(text)[..3]));
    }

    #[test]
    fn voice_has_length_level_and_pauses() {
        let pcm = synthesize("hello there");
        let secs = pcm.len() as f32 / RATE as f32;
        assert!((0.6..0.8).contains(&secs), "{secs}");
        let rms = (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
        assert!(rms > 1000.0 && rms < 8000.0, "{rms}");
        // Loud and silent 10 ms stretches both occur: it is not a steady tone.
        let frames: Vec<f64> = pcm
            .chunks(240)
            .map(|c| (c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
            .collect();
        assert!(frames.iter().any(|&r| r < 100.0) && frames.iter().any(|&r| r > 3000.0));
        assert_eq!(pcm, synthesize("hello there"), "deterministic");
    }

    /// The largest jump between two neighbouring samples.
    fn max_step(pcm: &[i16]) -> i32 {
        pcm.windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn word_gaps_fade_instead_of_clicking() {
        let pcm = synthesize("some words here with gaps between them, and a few more words");
        // The waveform itself moves at most ~900 per sample (f0 ≤ 172 Hz, five
        // harmonics); a gate cutting it at full level jumps by thousands.
        let step = max_step(&pcm);
        assert!(step < 1200, "a click at a word gap: step {step}");
        // The gaps are still silent.
        let frames: Vec<f64> = pcm
            .chunks(240)
            .map(|c| (c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
            .collect();
        assert!(frames.iter().filter(|&&r| r < 1.0).count() >= 8);
    }
}
