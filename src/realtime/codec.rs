//! Audio codecs of the wire formats: G.711 μ-law and A-law, the `audio/pcmu` and
//! `audio/pcma` formats (8 kHz mono, one byte per sample), to and from 16-bit linear PCM;
//! and the base64 PCM16 of `audio/pcm` event payloads.

use crate::Error;

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Encodes one sample as μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s as u32).leading_zeros().saturating_sub(17).min(7)) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 as i32 | mantissa) as u8
}

/// Decodes one μ-law byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte as i32;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0F;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// Encodes one sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = sample as i32;
    let (sign, mut magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    magnitude = magnitude.min(0x7FFF);
    let byte = if magnitude < 256 {
        magnitude >> 4
    } else {
        let exponent = 31 - (magnitude as u32).leading_zeros() as i32 - 7; // 1..=7
        let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
        (exponent << 4) | mantissa
    };
    ((byte | sign) ^ 0x55) as u8
}

/// Decodes one A-law byte.
pub fn alaw_decode(byte: u8) -> i16 {
    let b = (byte ^ 0x55) as i32;
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0F;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// Decodes base64 PCM16 little-endian audio, appending the samples to `out`.
pub(crate) fn base64_pcm16_into(b64: &[u8], out: &mut Vec<i16>) -> Result<(), Error> {
    const WHAT: &str = "response.output_audio.delta: delta is not valid base64";
    let n = base64_simd::STANDARD
        .decoded_length(b64)
        .map_err(|_| Error::Decode { what: WHAT })?;
    if n % 2 != 0 {
        // The length alone gave `n`: only valid base64 has an odd count to complain of.
        let what = match base64_simd::STANDARD.check(b64) {
            Ok(()) => "response.output_audio.delta: odd number of PCM16 bytes",
            Err(_) => WHAT,
        };
        return Err(Error::Decode { what });
    }
    // Decoded straight into the vector's spare room: zeroing it first (`resize`) cost a
    // fifth of a session's instructions, a pass over every sample before the real one.
    let start = out.len();
    let samples = n / 2;
    out.reserve(samples);
    let spare = &mut out.spare_capacity_mut()[..samples];
    // SAFETY: `spare` is `samples` values of `MaybeUninit<i16>`, which is `n` bytes of
    // `MaybeUninit<u8>` at an alignment that `u8` always meets, borrowed mutably for as
    // long as this slice lives.
    #[allow(unsafe_code)]
    let dst = unsafe {
        std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<std::mem::MaybeUninit<u8>>(), n)
    };
    match base64_simd::STANDARD.decode(b64, base64_simd::Out::from_uninit_slice(dst)) {
        Ok(written) if written.len() == n => {
            // SAFETY: the decoder wrote all `n` bytes, that is all `samples` values, of
            // the spare room after `start`, within the capacity reserved above.
            #[allow(unsafe_code)]
            unsafe {
                out.set_len(start + samples);
            }
        }
        _ => return Err(Error::Decode { what: WHAT }),
    }
    if cfg!(target_endian = "big") {
        for s in &mut out[start..] {
            *s = i16::from_le(*s);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from the G.711 tables.
    #[test]
    fn known_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    /// Every code decodes and re-encodes to itself (μ-law's two zeros aside), and the
    /// quantisation error stays within half a step.
    #[test]
    fn round_trips_and_error_bounds() {
        for b in 0..=255u8 {
            let u = ulaw_decode(b);
            if b != 0x7F {
                assert_eq!(ulaw_encode(u), b, "μ-law {b:#04x} → {u}");
            }
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law {b:#04x}");
        }
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let (u, a) = (
                ulaw_decode(ulaw_encode(s)) as i32,
                alaw_decode(alaw_encode(s)) as i32,
            );
            let tol = (s as i32).abs() / 16 + 16;
            assert!((u - s as i32).abs() <= tol.max(132), "μ-law {s} → {u}");
            assert!((a - s as i32).abs() <= tol.max(16), "A-law {s} → {a}");
        }
    }

    #[test]
    fn pcm16_decoding() {
        let mut out = vec![7];
        base64_pcm16_into(b"AAABAP//", &mut out).unwrap();
        assert_eq!(out, vec![7, 0, 1, -1]);
        let err = base64_pcm16_into(b"AA==", &mut out).unwrap_err();
        assert!(err.to_string().contains("odd number"), "{err}");
        let err = base64_pcm16_into(b"A*AAAAAA", &mut out).unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
        // Its length says one byte, but it is not base64 at all.
        let err = base64_pcm16_into(b"AA=?", &mut out).unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
        assert_eq!(out, vec![7, 0, 1, -1], "a failed decode appends nothing");
        // Into room already there (a failed decode may have written some of it): only
        // what decoded is appended, whole.
        let mut out = Vec::with_capacity(64);
        out.push(5);
        base64_pcm16_into(b"////////A*AAAAAA", &mut out).unwrap_err();
        assert_eq!(out, vec![5]);
        base64_pcm16_into(b"AQACAAMA", &mut out).unwrap();
        assert_eq!(out, vec![5, 1, 2, 3]);
        assert_eq!(out.capacity(), 64, "no new allocation");
    }
}
