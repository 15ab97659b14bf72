//! Opus for a call: 24 kHz mono PCM16 (the Realtime API's own audio) in 20 ms packets.
//! Opus codes and decodes at 24 kHz natively, so nothing is resampled; RTP counts the
//! codec's 48 kHz clock whatever the rate (RFC 7587). Public only for the benchmarks.

use opus_pure::{Application, MAX_PACKET_BYTES, OpusDecoder, OpusEncoder};

/// The PCM rate on both sides of the codec.
pub const RATE: u32 = 24_000;
/// Samples in one 20 ms packet at [`RATE`].
pub const FRAME: usize = (RATE / 50) as usize;
/// RTP clock ticks in one packet (48 kHz).
pub const FRAME_TICKS: u64 = 960;
/// The most samples one packet decodes to: 120 ms at [`RATE`].
const MAX_DECODED: usize = FRAME * 6;

/// Cuts PCM into 20 ms packets.
pub struct Encoder {
    codec: OpusEncoder,
    /// Samples waiting for a whole packet.
    pending: Vec<i16>,
    packet: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder at 24 kHz mono, for speech, 32 kb/s.
    pub fn new() -> Result<Self, String> {
        let mut codec = OpusEncoder::new(RATE as i32, 1, Application::Voip)
            .map_err(|e| format!("Opus encoder: {e}"))?;
        codec.bitrate_bps = 32_000;
        Ok(Encoder {
            codec,
            pending: Vec::with_capacity(FRAME * 2),
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Adds `pcm` and calls `out` with each whole packet it completes.
    pub fn push(&mut self, pcm: &[i16], mut out: impl FnMut(&[u8])) -> Result<(), String> {
        self.pending.extend_from_slice(pcm);
        let mut start = 0;
        while self.pending.len() - start >= FRAME {
            let frame = &self.pending[start..start + FRAME];
            let n = self
                .codec
                .encode_s16(frame, FRAME, &mut self.packet)
                .map_err(|e| format!("Opus encode: {e}"))?;
            out(&self.packet[..n]);
            start += FRAME;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Drops what waits for a whole packet (the input was cleared).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Turns packets back into PCM.
pub struct Decoder {
    codec: OpusDecoder,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder to 24 kHz mono.
    pub fn new() -> Result<Self, String> {
        Ok(Decoder {
            codec: OpusDecoder::new(RATE as i32, 1).map_err(|e| format!("Opus decoder: {e}"))?,
            pcm: vec![0; MAX_DECODED],
        })
    }

    /// The PCM in `packet`; an error names what was wrong with it.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], String> {
        let n = self
            .codec
            .decode_s16(packet, MAX_DECODED, &mut self.pcm)
            .map_err(|e| format!("Opus decode of a {}-byte packet: {e}", packet.len()))?;
        Ok(&self.pcm[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f32 * 440.0 * std::f32::consts::TAU / RATE as f32).sin() * 8000.0) as i16
            })
            .collect()
    }

    #[test]
    fn packets_are_20_ms_and_decode_to_the_tone() {
        let mut enc = Encoder::new().unwrap();
        let mut dec = Decoder::new().unwrap();
        let input = tone(FRAME * 25 + 100);
        let mut packets = Vec::new();
        // Pushed in odd pieces, as capture sends them.
        for piece in input.chunks(333) {
            enc.push(piece, |p| packets.push(p.to_vec())).unwrap();
        }
        assert_eq!(packets.len(), 25);
        let mut out = Vec::new();
        for p in &packets {
            let pcm = dec.decode(p).unwrap();
            assert_eq!(pcm.len(), FRAME);
            out.extend_from_slice(pcm);
        }
        // After the codec's delay, the tone's energy is back within 3 dB.
        let energy =
            |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64;
        let (a, b) = (
            energy(&input[FRAME * 5..FRAME * 25]),
            energy(&out[FRAME * 5..]),
        );
        assert!((10.0 * (b / a).log10()).abs() < 3.0, "in {a} out {b}");
    }

    #[test]
    fn a_bad_packet_is_an_error_not_a_panic() {
        let mut dec = Decoder::new().unwrap();
        // A TOC byte asking for code 3 with no frame count.
        assert!(dec.decode(&[0xFF]).is_err());
    }
}
