//! Opus for a call: 24 kHz mono PCM16 (the Realtime API's own audio) in 20 ms packets.
//! Opus codes and decodes at 24 kHz natively, so nothing is resampled; RTP counts the
//! codec's 48 kHz clock whatever the rate (RFC 7587). Public only for the benchmarks.
//!
//! The codec itself is `opus-pure` (Rust), or libopus with the feature `webrtc-libopus`;
//! both code the same bitstream, and a test with that feature on crosses them.

/// The PCM rate on both sides of the codec.
pub const RATE: u32 = 24_000;
/// Samples in one 20 ms packet at [`RATE`].
pub const FRAME: usize = (RATE / 50) as usize;
/// RTP clock ticks in one packet (48 kHz).
pub const FRAME_TICKS: u64 = 960;
/// The most samples one packet decodes to: 120 ms at [`RATE`].
const MAX_DECODED: usize = FRAME * 6;
/// Room for the largest packet either codec makes.
const MAX_PACKET_BYTES: usize = opus_pure::MAX_PACKET_BYTES;
/// Bits a second: speech at 24 kHz, as WebRTC's browsers send it.
const BITRATE: i32 = 32_000;

#[cfg(not(feature = "webrtc-libopus"))]
use pure::{Dec as CodecDecoder, Enc as CodecEncoder};

#[cfg(feature = "webrtc-libopus")]
use libopus::{Dec as CodecDecoder, Enc as CodecEncoder};

/// `opus-pure`: the default.
#[cfg(any(not(feature = "webrtc-libopus"), test))]
mod pure {
    use super::{BITRATE, RATE};
    use opus_pure::{Application, OpusDecoder, OpusEncoder};

    pub(super) struct Enc(OpusEncoder);

    impl Enc {
        pub(super) fn new() -> Result<Self, String> {
            let mut codec = OpusEncoder::new(RATE as i32, 1, Application::Voip)
                .map_err(|e| format!("Opus encoder: {e}"))?;
            codec.bitrate_bps = BITRATE;
            Ok(Enc(codec))
        }

        pub(super) fn encode(&mut self, frame: &[i16], packet: &mut [u8]) -> Result<usize, String> {
            self.0
                .encode_s16(frame, frame.len(), packet)
                .map_err(|e| format!("Opus encode: {e}"))
        }
    }

    pub(super) struct Dec(OpusDecoder);

    impl Dec {
        pub(super) fn new() -> Result<Self, String> {
            let codec =
                OpusDecoder::new(RATE as i32, 1).map_err(|e| format!("Opus decoder: {e}"))?;
            Ok(Dec(codec))
        }

        pub(super) fn decode(&mut self, packet: &[u8], pcm: &mut [i16]) -> Result<usize, String> {
            self.0
                .decode_s16(packet, pcm.len(), pcm)
                .map_err(|e| e.to_string())
        }
    }
}

/// libopus (feature `webrtc-libopus`).
#[cfg(feature = "webrtc-libopus")]
mod libopus {
    use super::{BITRATE, RATE};
    use opus::{Application, Bitrate, Channels, Decoder, Encoder};

    pub(super) struct Enc(Encoder);

    impl Enc {
        pub(super) fn new() -> Result<Self, String> {
            let mut codec = Encoder::new(RATE, Channels::Mono, Application::Voip)
                .map_err(|e| format!("Opus encoder (libopus): {e}"))?;
            codec
                .set_bitrate(Bitrate::Bits(BITRATE))
                .map_err(|e| format!("Opus encoder (libopus): {e}"))?;
            Ok(Enc(codec))
        }

        pub(super) fn encode(&mut self, frame: &[i16], packet: &mut [u8]) -> Result<usize, String> {
            self.0
                .encode(frame, packet)
                .map_err(|e| format!("Opus encode (libopus): {e}"))
        }
    }

    pub(super) struct Dec(Decoder);

    impl Dec {
        pub(super) fn new() -> Result<Self, String> {
            let codec = Decoder::new(RATE, Channels::Mono)
                .map_err(|e| format!("Opus decoder (libopus): {e}"))?;
            Ok(Dec(codec))
        }

        pub(super) fn decode(&mut self, packet: &[u8], pcm: &mut [i16]) -> Result<usize, String> {
            self.0.decode(packet, pcm, false).map_err(|e| e.to_string())
        }
    }
}

/// Cuts PCM into 20 ms packets.
pub struct Encoder {
    codec: CodecEncoder,
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
        Ok(Encoder {
            codec: CodecEncoder::new()?,
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
            let n = self.codec.encode(frame, &mut self.packet)?;
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
    codec: CodecDecoder,
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
            codec: CodecDecoder::new()?,
            pcm: vec![0; MAX_DECODED],
        })
    }

    /// The PCM in `packet`; an error names what was wrong with it.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], String> {
        let n = self
            .codec
            .decode(packet, &mut self.pcm)
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

    /// The two codecs speak one bitstream: each decodes what the other encodes, and both
    /// decoders hear the same in one stream of packets.
    #[cfg(feature = "webrtc-libopus")]
    mod cross {
        use super::super::{FRAME, MAX_DECODED, MAX_PACKET_BYTES, RATE, libopus, pure};

        fn rms(s: &[i16]) -> f64 {
            (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        }

        /// A voice-like test signal: a 150 Hz buzz with ten harmonics, its loudness
        /// swelling four times a second.
        fn voice(n: usize) -> Vec<i16> {
            (0..n)
                .map(|i| {
                    let t = i as f32 / RATE as f32;
                    let buzz: f32 = (1..=10)
                        .map(|h| (t * 150.0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                        .sum();
                    let swell = 0.6 + 0.4 * (t * 4.0 * std::f32::consts::TAU).sin();
                    (buzz * swell * 5_000.0) as i16
                })
                .collect()
        }

        fn encode(mut enc: impl FnMut(&[i16], &mut [u8]) -> usize, pcm: &[i16]) -> Vec<Vec<u8>> {
            let mut packet = vec![0u8; MAX_PACKET_BYTES];
            pcm.chunks_exact(FRAME)
                .map(|frame| {
                    let n = enc(frame, &mut packet);
                    packet[..n].to_vec()
                })
                .collect()
        }

        fn decode(
            mut dec: impl FnMut(&[u8], &mut [i16]) -> usize,
            packets: &[Vec<u8>],
        ) -> Vec<i16> {
            let mut pcm = vec![0i16; MAX_DECODED];
            let mut out = Vec::new();
            for p in packets {
                let n = dec(p, &mut pcm);
                assert_eq!(n, FRAME);
                out.extend_from_slice(&pcm[..n]);
            }
            out
        }

        /// SNR of `b` against `a` in dB, at the lag (up to a packet) where they fit best,
        /// leaving out the first 100 ms while the codec settles.
        fn snr(a: &[i16], b: &[i16]) -> (f64, usize) {
            let from = FRAME * 5;
            let to = a.len() - FRAME;
            let signal: f64 = a[from..to].iter().map(|&x| f64::from(x).powi(2)).sum();
            (0..FRAME)
                .map(|lag| {
                    let noise: f64 = a[from..to]
                        .iter()
                        .zip(&b[from + lag..to + lag])
                        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                        .sum();
                    (10.0 * (signal / noise).log10(), lag)
                })
                .max_by(|x, y| x.0.total_cmp(&y.0))
                .unwrap()
        }

        #[test]
        fn each_decodes_what_the_other_encodes() {
            let input = voice(RATE as usize * 2);
            let mut pure_enc = pure::Enc::new().unwrap();
            let mut lib_enc = libopus::Enc::new().unwrap();
            let from_pure = encode(|f, p| pure_enc.encode(f, p).unwrap(), &input);
            let from_lib = encode(|f, p| lib_enc.encode(f, p).unwrap(), &input);
            for (name, packets) in [("opus-pure", &from_pure), ("libopus", &from_lib)] {
                let mut pure_dec = pure::Dec::new().unwrap();
                let mut lib_dec = libopus::Dec::new().unwrap();
                let by_pure = decode(|p, pcm| pure_dec.decode(p, pcm).unwrap(), packets);
                let by_lib = decode(|p, pcm| lib_dec.decode(p, pcm).unwrap(), packets);
                let (pure_snr, pure_lag) = snr(&input, &by_pure);
                let (lib_snr, lib_lag) = snr(&input, &by_lib);
                let (agree, lag) = snr(&by_lib, &by_pure);
                eprintln!(
                    "{name} packets: opus-pure {pure_snr:.1} dB, libopus {lib_snr:.1} dB, \
                     decoders agree to {agree:.1} dB"
                );
                // Both decoders hear the voice, at its level, with the same delay. (Opus at
                // 32 kb/s keeps the sound, not the waveform: a broken decoder is near 0 dB.)
                for (decoder, snr, out) in [
                    ("opus-pure", pure_snr, &by_pure),
                    ("libopus", lib_snr, &by_lib),
                ] {
                    assert!(snr > 5.0, "{name} -> {decoder}: {snr:.1} dB");
                    let level = 20.0 * (rms(&out[FRAME * 5..]) / rms(&input[FRAME * 5..])).log10();
                    assert!(
                        level.abs() < 1.0,
                        "{name} -> {decoder}: {level:.1} dB level"
                    );
                }
                assert_eq!(pure_lag, lib_lag, "{name}");
                assert!(
                    (pure_snr - lib_snr).abs() < 1.5,
                    "{name}: {pure_snr:.1} vs {lib_snr:.1} dB"
                );
                // Nearly the same samples: one bitstream. Not bit-exact: how SILK's 16 kHz
                // is brought to 24 kHz is not normative (RFC 6716, 4.2.9).
                assert_eq!(lag, 0, "{name}");
                assert!(agree > 15.0, "{name}: the decoders differ, {agree:.1} dB");
            }
        }
    }
}
