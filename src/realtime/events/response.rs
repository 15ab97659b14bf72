//! Responses: `response.create` and `response.cancel` (client); `response.created/done`,
//! output items, content parts, text, audio and transcript streams, and
//! `rate_limits.updated` (server).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::common::{MaxOutputTokens, Modality, string_enum};
use super::conversation::{ContentPart, Item};
use super::flat::delta_fields;
use super::session::{AudioOutput, Tool, ToolChoice};
use super::{RawJson, SharedStr};
use crate::Error;

/// Settings of one response, overriding the session's for that response only.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseConfig {
    /// `["audio"]` or `["text"]`.
    pub output_modalities: Option<Vec<Modality>>,
    /// Instructions for this response.
    pub instructions: Option<String>,
    /// Output audio settings (format, voice).
    pub audio: Option<ResponseAudio>,
    /// Tools for this response (an empty list removes the session's).
    pub tools: Option<Vec<Tool>>,
    /// How the model chooses tools.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools at once.
    pub parallel_tool_calls: Option<bool>,
    /// Reasoning settings.
    pub reasoning: Option<Value>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// `auto` (the default conversation) or `none` (out of band).
    pub conversation: Option<String>,
    /// Up to 16 key-value pairs, returned in the response's events.
    pub metadata: Option<Value>,
    /// A stored prompt template reference.
    pub prompt: Option<Value>,
    /// Input items for an out-of-band response, instead of the conversation.
    pub input: Option<Vec<Item>>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Audio settings of a response.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseAudio {
    /// Output format and voice.
    pub output: Option<AudioOutput>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `response.create` (client): ask the model to respond.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseCreate {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// Overrides for this response; `None` uses the session's settings.
    pub response: Option<ResponseConfig>,
}

/// `response.cancel` (client): stop the response in progress.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseCancel {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// The response to cancel; `None`: the one in progress in the default conversation.
    pub response_id: Option<String>,
}

string_enum! {
    /// The state of a response.
    pub enum ResponseStatus {
        /// Finished normally.
        Completed = "completed",
        /// Cancelled by the client or by turn detection.
        Cancelled = "cancelled",
        /// Failed; see the status details.
        Failed = "failed",
        /// Ended early (token limit, content filter).
        Incomplete = "incomplete",
        /// Still being produced.
        InProgress = "in_progress",
    }
}

/// Why a response ended the way it did.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusDetails {
    /// The status again: `completed`, `cancelled`, `failed` or `incomplete`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `turn_detected`, `client_cancelled`, `max_output_tokens` or `content_filter`.
    pub reason: Option<String>,
    /// The error, for a failed response.
    pub error: Option<Value>,
}

/// A response of the model, as `response.created` and `response.done` report it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Response {
    /// The response's id.
    pub id: Option<String>,
    /// Always `realtime.response`.
    pub object: Option<String>,
    /// The response's state.
    pub status: Option<ResponseStatus>,
    /// Why it ended, when not simply completed.
    pub status_details: Option<StatusDetails>,
    /// The items produced.
    #[serde(default)]
    pub output: Vec<Item>,
    /// The conversation it belongs to (none for out-of-band responses).
    pub conversation_id: Option<String>,
    /// `["audio"]` or `["text"]`.
    pub output_modalities: Option<Vec<Modality>>,
    /// The token limit in force.
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// Output audio settings.
    pub audio: Option<Value>,
    /// Token usage, in `response.done`.
    pub usage: Option<Usage>,
    /// The metadata given in `response.create`.
    pub metadata: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token usage of a response.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Input plus output tokens.
    #[serde(default)]
    pub total_tokens: u64,
    /// Input tokens, including cached ones.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens by kind.
    pub input_token_details: Option<InputTokenDetails>,
    /// Output tokens by kind.
    pub output_token_details: Option<OutputTokenDetails>,
}

/// Input tokens by kind.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputTokenDetails {
    /// Tokens served from the cache.
    pub cached_tokens: Option<u64>,
    /// Text tokens.
    pub text_tokens: Option<u64>,
    /// Image tokens.
    pub image_tokens: Option<u64>,
    /// Audio tokens.
    pub audio_tokens: Option<u64>,
    /// Cached tokens by kind.
    pub cached_tokens_details: Option<Value>,
}

/// Output tokens by kind.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputTokenDetails {
    /// Text tokens.
    pub text_tokens: Option<u64>,
    /// Audio tokens.
    pub audio_tokens: Option<u64>,
}

super::server_event! {
    /// `response.created` (server): a response started.
    pub struct ResponseCreated {
        /// The response, status `in_progress` (boxed: see [`SessionCreated`](super::SessionCreated)).
        pub response: Box<Response>,
    }
}

super::server_event! {
    /// `response.done` (server): a response ended; carries its output and usage.
    pub struct ResponseDone {
        /// The finished response (boxed: see [`SessionCreated`](super::SessionCreated)).
        pub response: Box<Response>,
    }
}

super::server_event! {
    /// `response.output_item.added` (server): the response began an item.
    pub struct ResponseOutputItemAdded {
        /// The response.
        pub response_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `response.output_item.done` (server): an item of the response is complete.
    pub struct ResponseOutputItemDone {
        /// The response.
        pub response_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The item.
        pub item: Item,
    }
}

super::server_event! {
    /// `response.content_part.added` (server): a content part began.
    pub struct ResponseContentPartAdded {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The part.
        pub part: ContentPart,
    }
}

super::server_event! {
    /// `response.content_part.done` (server): a content part is complete.
    pub struct ResponseContentPartDone {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The part.
        pub part: ContentPart,
    }
}

super::server_event! {
    /// `response.output_text.delta` (server; beta name `response.text.delta`): more text.
    pub struct ResponseOutputTextDelta {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The new text.
        pub delta: String,
    }
}

super::server_event! {
    /// `response.output_text.done` (server; beta `response.text.done`): the text is complete.
    pub struct ResponseOutputTextDone {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The whole text.
        pub text: String,
    }
}

super::server_event! {
    /// `response.output_audio.delta` (server; beta `response.audio.delta`): more audio,
    /// base64 in the session's output format (PCM16 LE 24 kHz mono by default).
    pub struct ResponseOutputAudioDelta {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// Base64 audio. It shares the received frame's buffer rather than copying it
        /// (derefs to `str`).
        pub delta: SharedStr,
    }
}

/// Text and transcript deltas of the usual shape, parsed without serde (see
/// [`delta_fields`]): a reply's transcript comes as many small events. `None` when the
/// shape is any other (an escape in the text, another field); serde then parses it.
macro_rules! flat_text_delta {
    ($($name:ident),+) => {$(
        impl $name {
            pub(crate) fn parse_flat(text: &str) -> Option<$name> {
                let d = delta_fields(text)?;
                Some($name {
                    event_id: d.event_id,
                    response_id: d.response_id,
                    item_id: d.item_id,
                    output_index: d.output_index,
                    content_index: d.content_index,
                    delta: d.delta.to_owned(),
                })
            }
        }
    )+};
}
flat_text_delta!(ResponseOutputTextDelta, ResponseOutputAudioTranscriptDelta);

impl ResponseOutputAudioDelta {
    /// Parses the payload from `text`, the JSON of `raw`, with `delta` a slice of `raw`
    /// rather than a copy. `None` when it does not parse (the caller then reports why).
    pub(crate) fn parse_shared(text: &str, raw: &RawJson) -> Option<ResponseOutputAudioDelta> {
        Self::parse_flat(text, raw).or_else(|| Self::parse_borrowed(text, raw))
    }

    /// The usual shape, without serde (see [`delta_fields`]).
    fn parse_flat(text: &str, raw: &RawJson) -> Option<ResponseOutputAudioDelta> {
        let d = delta_fields(text)?;
        Some(ResponseOutputAudioDelta {
            event_id: d.event_id,
            response_id: d.response_id,
            item_id: d.item_id,
            output_index: d.output_index,
            content_index: d.content_index,
            delta: SharedStr::slice(raw, d.at, d.at + d.delta.len())?,
        })
    }

    /// Any other shape serde accepts, with the delta borrowed when it has no escapes.
    fn parse_borrowed(text: &str, raw: &RawJson) -> Option<ResponseOutputAudioDelta> {
        // The same fields as the struct, with the delta borrowed from the text.
        #[derive(Deserialize)]
        struct Wire<'a> {
            #[serde(default)]
            event_id: String,
            response_id: String,
            item_id: String,
            output_index: u32,
            content_index: u32,
            #[serde(borrow)]
            delta: Cow<'a, str>,
        }
        let w: Wire<'_> = serde_json::from_str(text).ok()?;
        let delta = match w.delta {
            // Unescaped (base64 always is): the slice of the text it came from.
            Cow::Borrowed(d) => {
                let start = (d.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
                SharedStr::slice(raw, start, start + d.len())?
            }
            Cow::Owned(d) => SharedStr::from(d),
        };
        Some(ResponseOutputAudioDelta {
            event_id: w.event_id,
            response_id: w.response_id,
            item_id: w.item_id,
            output_index: w.output_index,
            content_index: w.content_index,
            delta,
        })
    }

    /// Decodes the delta as PCM16 little-endian samples (the default output format).
    ///
    /// ```
    /// use vivavoce::realtime::events::ResponseOutputAudioDelta;
    /// # let mut ev: ResponseOutputAudioDelta = serde_json::from_str(
    /// #   r#"{"event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":""}"#).unwrap();
    /// ev.delta = "AAABAP//".into();
    /// assert_eq!(ev.pcm16().unwrap(), vec![0, 1, -1]);
    /// ```
    pub fn pcm16(&self) -> Result<Vec<i16>, Error> {
        let mut out = Vec::new();
        self.pcm16_into(&mut out)?;
        Ok(out)
    }

    /// Decodes the delta as PCM16 samples appended to `out`, reusing its allocation.
    pub fn pcm16_into(&self, out: &mut Vec<i16>) -> Result<(), Error> {
        crate::realtime::codec::base64_pcm16_into(self.delta.as_bytes(), out)
    }

    /// Decodes the delta to raw bytes (for μ-law or A-law output formats).
    pub fn bytes(&self) -> Result<Vec<u8>, Error> {
        base64_simd::STANDARD
            .decode_to_vec(self.delta.as_bytes())
            .map_err(|_| Error::Decode {
                what: "response.output_audio.delta: delta is not valid base64",
            })
    }
}

super::server_event! {
    /// `response.output_audio.done` (server; beta `response.audio.done`): the audio is complete.
    pub struct ResponseOutputAudioDone {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
    }
}

super::server_event! {
    /// `response.output_audio_transcript.delta` (server; beta `response.audio_transcript.delta`).
    pub struct ResponseOutputAudioTranscriptDelta {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The new transcript text.
        pub delta: String,
    }
}

super::server_event! {
    /// `response.output_audio_transcript.done` (server; beta `response.audio_transcript.done`).
    pub struct ResponseOutputAudioTranscriptDone {
        /// The response.
        pub response_id: String,
        /// The item.
        pub item_id: String,
        /// The item's index in the response's output.
        pub output_index: u32,
        /// The part's index in the item's content.
        pub content_index: u32,
        /// The whole transcript.
        pub transcript: String,
    }
}

/// One rate limit's state.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// `requests` or `tokens`.
    pub name: String,
    /// The maximum.
    pub limit: u64,
    /// What is left.
    pub remaining: u64,
    /// Seconds until it resets.
    pub reset_seconds: f64,
}

super::server_event! {
    /// `rate_limits.updated` (server): sent when a response starts, with the limits left.
    pub struct RateLimitsUpdated {
        /// The limits.
        pub rate_limits: Vec<RateLimit>,
    }
}
