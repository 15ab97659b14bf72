//! Small value types shared by several event groups: string enums that tolerate values
//! this version does not know, audio formats, voices and token limits.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines an enum serialised as a JSON string, with an `Other(String)` fallback so a
/// value added to the API later still parses (and re-serialises unchanged).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// What a session or response produces: `audio` (with a transcript) or `text`.
    pub enum Modality {
        /// Spoken output, with its transcript.
        Audio = "audio",
        /// Text output only.
        Text = "text",
    }
}

string_enum! {
    /// A built-in voice. Custom voices use [`Voice::Custom`].
    pub enum VoiceName {
        /// The `alloy` voice.
        Alloy = "alloy",
        /// The `ash` voice.
        Ash = "ash",
        /// The `ballad` voice.
        Ballad = "ballad",
        /// The `coral` voice.
        Coral = "coral",
        /// The `echo` voice.
        Echo = "echo",
        /// The `sage` voice.
        Sage = "sage",
        /// The `shimmer` voice.
        Shimmer = "shimmer",
        /// The `verse` voice.
        Verse = "verse",
        /// The `marin` voice.
        Marin = "marin",
        /// The `cedar` voice.
        Cedar = "cedar",
    }
}

/// The voice of the model's audio output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Voice {
    /// A built-in voice such as `marin`.
    Named(VoiceName),
    /// A custom voice, by id.
    Custom {
        /// The custom voice's id.
        id: String,
    },
}

impl From<VoiceName> for Voice {
    fn from(v: VoiceName) -> Self {
        Voice::Named(v)
    }
}

/// The encoding of audio on the wire, as the session's `audio.input.format` and
/// `audio.output.format` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum AudioFormat {
    /// 16-bit little-endian PCM, mono, at `rate` Hz (the API only supports 24000).
    #[serde(rename = "audio/pcm")]
    Pcm {
        /// Sample rate in Hz; `None` leaves the API's default (24000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<u32>,
    },
    /// G.711 μ-law, 8 kHz mono.
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    /// G.711 A-law, 8 kHz mono.
    #[serde(rename = "audio/pcma")]
    Pcma,
}

impl AudioFormat {
    /// PCM16 at 24 kHz, the API's default and the format this crate plays and captures natively.
    pub const PCM_24K: AudioFormat = AudioFormat::Pcm { rate: Some(24_000) };

    /// The sample rate of audio in this format.
    pub fn sample_rate(&self) -> u32 {
        match self {
            AudioFormat::Pcm { rate } => rate.unwrap_or(24_000),
            AudioFormat::Pcmu | AudioFormat::Pcma => 8_000,
        }
    }
}

impl Default for AudioFormat {
    fn default() -> Self {
        AudioFormat::PCM_24K
    }
}

/// A limit on output tokens: a number, or `"inf"` for the model's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxOutputTokens {
    /// At most this many tokens (1 to 4096).
    Limit(u32),
    /// The model's maximum (`"inf"` on the wire).
    Inf,
}

impl Serialize for MaxOutputTokens {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxOutputTokens::Limit(n) => s.serialize_u32(*n),
            MaxOutputTokens::Inf => s.serialize_str("inf"),
        }
    }
}

impl<'de> Deserialize<'de> for MaxOutputTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr<'a> {
            Limit(u32),
            #[serde(borrow)]
            Word(std::borrow::Cow<'a, str>),
        }
        match Repr::deserialize(d)? {
            Repr::Limit(n) => Ok(MaxOutputTokens::Limit(n)),
            Repr::Word(w) if w == "inf" => Ok(MaxOutputTokens::Inf),
            Repr::Word(w) => Err(serde::de::Error::custom(format_args!(
                "expected an integer or \"inf\", found \"{w}\""
            ))),
        }
    }
}

/// Deserialises a field that distinguishes "absent" (`None`) from "explicitly null"
/// (`Some(None)`), as `session.update` does: `"turn_detection": null` turns voice
/// activity detection off, while leaving the field out keeps the current setting.
/// Use with `#[serde(default, deserialize_with = "common::nullable")]`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
