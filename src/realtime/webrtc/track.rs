//! The audio track's codecs: which the offer names, which the answer took, and the
//! encoder and decoder for it. Audio goes in and comes out at 24 kHz mono PCM16 whatever
//! the codec.

use str0m::format::{Codec, PayloadParams};
use str0m::media::{Frequency, Pt};

use super::g711::{self, G711Decoder, G711Encoder, Law};
use super::opus;

/// An audio codec of the call's track.
///
/// The offer names those of [`CallOptions::codecs`](super::CallOptions::codecs), best
/// first; the answer picks. Opus carries the session's 24 kHz as it is; G.711 (PCMU,
/// PCMA) is 8 kHz telephone sound, the fallback of peers without Opus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallCodec {
    /// Opus (`opus/48000/2`, payload type 111), 32 kb/s, wideband and better.
    Opus,
    /// G.711 μ-law (`PCMU/8000`, payload type 0).
    Pcmu,
    /// G.711 A-law (`PCMA/8000`, payload type 8).
    Pcma,
}

impl CallCodec {
    /// All of them, best first: the default of [`CallOptions`](super::CallOptions).
    pub const ALL: [CallCodec; 3] = [CallCodec::Opus, CallCodec::Pcmu, CallCodec::Pcma];

    pub(crate) fn of(codec: Codec) -> Option<Self> {
        match codec {
            Codec::Opus => Some(CallCodec::Opus),
            Codec::PCMU => Some(CallCodec::Pcmu),
            Codec::PCMA => Some(CallCodec::Pcma),
            _ => None,
        }
    }

    /// RTP's clock for it.
    pub(crate) fn clock(self) -> Frequency {
        match self {
            CallCodec::Opus => Frequency::FORTY_EIGHT_KHZ,
            CallCodec::Pcmu | CallCodec::Pcma => Frequency::EIGHT_KHZ,
        }
    }

    /// Ticks of [`clock`](Self::clock) in one 20 ms packet.
    pub(crate) fn packet_ticks(self) -> u64 {
        match self {
            CallCodec::Opus => opus::FRAME_TICKS,
            CallCodec::Pcmu | CallCodec::Pcma => g711::PACKET_TICKS,
        }
    }
}

/// An engine that offers (or accepts) `codecs` in that order, each at most once.
pub(crate) fn enable(mut config: str0m::RtcConfig, codecs: &[CallCodec]) -> str0m::RtcConfig {
    config = config.clear_codecs();
    for (i, codec) in codecs.iter().enumerate() {
        if codecs[..i].contains(codec) {
            continue;
        }
        config = match codec {
            CallCodec::Opus => config.enable_opus(true, false),
            CallCodec::Pcmu => config.enable_pcmu(true, false),
            CallCodec::Pcma => config.enable_pcma(true, false),
        };
    }
    config
}

/// Of the payload types the answer took, the one of the first codec in `preference`.
pub(crate) fn pick<'a>(
    taken: impl Iterator<Item = &'a PayloadParams>,
    preference: &[CallCodec],
) -> Option<(Pt, CallCodec)> {
    taken
        .filter_map(|p| Some((p.pt(), CallCodec::of(p.spec().codec)?)))
        .filter_map(|(pt, codec)| Some((preference.iter().position(|&c| c == codec)?, pt, codec)))
        .min_by_key(|&(rank, ..)| rank)
        .map(|(_, pt, codec)| (pt, codec))
}

/// 24 kHz PCM in, packets of the track's codec out, 20 ms each.
#[derive(Debug)]
pub(crate) enum TrackEncoder {
    Opus(Box<opus::Encoder>),
    G711(Box<G711Encoder>),
}

impl TrackEncoder {
    /// An encoder for `codec`; an error says why the codec could not start.
    pub(crate) fn new(codec: CallCodec) -> Result<Self, String> {
        Ok(match codec {
            CallCodec::Opus => TrackEncoder::Opus(Box::new(opus::Encoder::new()?)),
            CallCodec::Pcmu => TrackEncoder::G711(Box::new(G711Encoder::new(Law::Mu))),
            CallCodec::Pcma => TrackEncoder::G711(Box::new(G711Encoder::new(Law::A))),
        })
    }

    /// The codec it codes.
    pub(crate) fn codec(&self) -> CallCodec {
        match self {
            TrackEncoder::Opus(_) => CallCodec::Opus,
            TrackEncoder::G711(e) => match e.law() {
                Law::Mu => CallCodec::Pcmu,
                Law::A => CallCodec::Pcma,
            },
        }
    }

    /// Adds 24 kHz `pcm` and calls `out` with each whole packet it completes.
    pub(crate) fn push(&mut self, pcm: &[i16], out: impl FnMut(&[u8])) -> Result<(), String> {
        match self {
            TrackEncoder::Opus(e) => e.push(pcm, out),
            TrackEncoder::G711(e) => {
                e.push(pcm, out);
                Ok(())
            }
        }
    }

    /// Drops what waits for a whole packet (the input was cleared).
    pub(crate) fn clear(&mut self) {
        match self {
            TrackEncoder::Opus(e) => e.clear(),
            TrackEncoder::G711(e) => e.clear(),
        }
    }
}

/// Packets of any of the track's codecs in, 24 kHz PCM out. Each codec's decoder starts
/// at its first packet.
#[derive(Default)]
pub(crate) struct TrackDecoder {
    opus: Option<opus::Decoder>,
    g711: Option<G711Decoder>,
}

impl std::fmt::Debug for TrackDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackDecoder")
            .field("opus", &self.opus.is_some())
            .field("g711", &self.g711.is_some())
            .finish()
    }
}

impl TrackDecoder {
    /// The PCM in `packet` of `codec`: `Ok(None)` for a payload that is not one of
    /// [`CallCodec`]'s, an error naming what was wrong with a packet that does not decode.
    pub(crate) fn decode(&mut self, codec: Codec, packet: &[u8]) -> Result<Option<&[i16]>, String> {
        let law = match CallCodec::of(codec) {
            None => return Ok(None),
            Some(CallCodec::Opus) => {
                let decoder = match &mut self.opus {
                    Some(d) => d,
                    none => none.insert(opus::Decoder::new()?),
                };
                return decoder.decode(packet).map(Some);
            }
            Some(CallCodec::Pcmu) => Law::Mu,
            Some(CallCodec::Pcma) => Law::A,
        };
        let decoder = self.g711.get_or_insert_with(G711Decoder::new);
        Ok(Some(decoder.decode(law, packet)))
    }
}
