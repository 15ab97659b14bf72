//! Typed Realtime events (GA protocol) and the types they carry, grouped by topic.
//!
//! [`ClientEvent`] is what you send, [`ServerEvent`] what you receive; each variant holds
//! one of the payload structs below. Every received event keeps the JSON text it was
//! parsed from ([`ServerEvent::raw`]); an event type this version does not know arrives as
//! [`ServerEvent::Unknown`], a known type whose payload does not parse as
//! [`ServerEvent::Malformed`]. Neither stops the session. Beta event names
//! (`response.audio.delta`, `response.text.delta`, …) are accepted and arrive as their GA
//! variants.
//!
//! Client payloads and the configuration types are plain structs you build (most have a
//! constructor, and [`Session`] has chainable setters); server payloads are
//! `#[non_exhaustive]`: you read them, and a field the API adds later is not a breaking
//! change.
//!
//! # Contents
//!
//! - **Session.** Send [`SessionUpdate`]; receive [`SessionCreated`] and
//!   [`SessionUpdated`]. The configuration: [`Session`], [`SessionKind`],
//!   [`SessionAudio`], [`AudioInput`], [`AudioOutput`], [`Transcription`],
//!   [`NoiseReduction`] ([`NoiseReductionKind`]), [`TurnDetection`] ([`ServerVad`],
//!   [`SemanticVad`]), and the tools the model may call: [`Tool`], [`FunctionTool`],
//!   [`ToolChoice`], [`ToolChoiceMode`].
//! - **Conversation.** Send [`ConversationItemCreate`], [`ConversationItemRetrieve`],
//!   [`ConversationItemDelete`], [`ConversationItemTruncate`]; receive
//!   [`ConversationCreated`], [`ConversationItemAdded`], [`ConversationItemDone`],
//!   [`ConversationItemCreated`], [`ConversationItemRetrieved`],
//!   [`ConversationItemDeleted`], [`ConversationItemTruncated`]. Items: [`Item`]
//!   ([`MessageItem`], [`FunctionCallItem`], [`FunctionCallOutputItem`],
//!   [`ItemReference`]), [`ContentPart`], [`Role`], [`ItemStatus`], [`Conversation`].
//! - **Input audio.** Send [`InputAudioBufferAppend`], [`InputAudioBufferCommit`],
//!   [`InputAudioBufferClear`], [`OutputAudioBufferClear`]; receive
//!   [`InputAudioBufferCommitted`], [`InputAudioBufferCleared`],
//!   [`InputAudioBufferSpeechStarted`], [`InputAudioBufferSpeechStopped`],
//!   [`InputAudioBufferTimeoutTriggered`], [`InputAudioBufferDtmfEventReceived`],
//!   [`OutputAudioBufferStarted`], [`OutputAudioBufferStopped`],
//!   [`OutputAudioBufferCleared`]. Transcription of the input:
//!   [`InputAudioTranscriptionDelta`], [`InputAudioTranscriptionCompleted`],
//!   [`InputAudioTranscriptionSegment`], [`InputAudioTranscriptionFailed`]
//!   ([`TranscriptionError`]).
//! - **Responses.** Send [`ResponseCreate`] ([`ResponseConfig`], [`ResponseAudio`]) and
//!   [`ResponseCancel`]; receive [`ResponseCreated`] and [`ResponseDone`] ([`Response`],
//!   [`ResponseStatus`], [`StatusDetails`], [`Usage`], [`InputTokenDetails`],
//!   [`OutputTokenDetails`]), [`ResponseOutputItemAdded`], [`ResponseOutputItemDone`],
//!   [`ResponseContentPartAdded`], [`ResponseContentPartDone`], the streams
//!   [`ResponseOutputTextDelta`], [`ResponseOutputTextDone`],
//!   [`ResponseOutputAudioDelta`], [`ResponseOutputAudioDone`],
//!   [`ResponseOutputAudioTranscriptDelta`], [`ResponseOutputAudioTranscriptDone`], and
//!   [`RateLimitsUpdated`] ([`RateLimit`]).
//! - **Tool calls.** Receive [`ResponseFunctionCallArgumentsDelta`],
//!   [`ResponseFunctionCallArgumentsDone`], [`ResponseMcpCallArgumentsDelta`],
//!   [`ResponseMcpCallArgumentsDone`], [`ResponseMcpCallInProgress`],
//!   [`ResponseMcpCallCompleted`], [`ResponseMcpCallFailed`], [`McpListToolsInProgress`],
//!   [`McpListToolsCompleted`], [`McpListToolsFailed`]; answer a function call with
//!   [`Item::function_output`].
//! - **Errors.** Receive [`ErrorEvent`] ([`ErrorDetails`]).
//! - **Local events**, reported by the connection itself in the same stream:
//!   [`Disconnected`], [`Reconnected`], [`Warning`].
//! - **Shared values.** [`AudioFormat`], [`Voice`] ([`VoiceName`]), [`Modality`],
//!   [`MaxOutputTokens`].
//! - **Received events.** [`Received`] wraps a payload with its [`RawJson`].

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Serialize, Serializer};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Defines a server event payload: the fields given plus `event_id`. Payloads are only
/// read, so they are `#[non_exhaustive]`: a field the API adds is not a breaking change.
/// Outside the crate they come from JSON, not from struct literals:
///
/// ```compile_fail,E0639
/// use vivavoce::realtime::events::OutputAudioBufferStarted;
/// let _ = OutputAudioBufferStarted { event_id: String::new(), response_id: String::new() };
/// ```
///
/// ```
/// use vivavoce::realtime::events::OutputAudioBufferStarted;
/// let e: OutputAudioBufferStarted = serde_json::from_str(r#"{"response_id":"r"}"#).unwrap();
/// assert_eq!(e.response_id, "r");
/// ```
macro_rules! server_event {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub struct $name {
            /// The server's id of this event (empty if the server sent none).
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub event_id: String,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }
    };
}
pub(crate) use server_event;

mod common;
mod conversation;
mod error;
mod flat;
mod input_audio;
mod local;
mod parse;
mod response;
mod session;
mod session_setters;
mod shared_str;
mod tools;

pub use common::{AudioFormat, MaxOutputTokens, Modality, Voice, VoiceName};
pub use conversation::*;
pub use error::*;
pub use input_audio::*;
pub use local::*;
pub use response::*;
pub use session::*;
pub use shared_str::SharedStr;
pub use tools::*;

pub(crate) use parse::parse_server_event;

/// The JSON text of a received event, shared without copying.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawJson(Utf8Bytes);

impl RawJson {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn from_frame(text: Utf8Bytes) -> Self {
        RawJson(text)
    }
}

impl From<String> for RawJson {
    fn from(s: String) -> Self {
        RawJson(s.into())
    }
}

impl From<&str> for RawJson {
    fn from(s: &str) -> Self {
        RawJson(s.into())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed server event together with the JSON it was parsed from.
///
/// Derefs to the payload, so `event.delta` works directly. Events built locally (for
/// example by the simulator) have no raw JSON.
#[derive(Clone)]
pub struct Received<T> {
    event: T,
    raw: Option<RawJson>,
}

impl<T> Received<T> {
    /// Wraps a locally built payload (no raw JSON).
    pub fn new(event: T) -> Self {
        Received { event, raw: None }
    }

    pub(crate) fn with_raw(event: T, raw: RawJson) -> Self {
        Received {
            event,
            raw: Some(raw),
        }
    }

    /// The JSON text this event was parsed from, if it was received.
    pub fn raw(&self) -> Option<&RawJson> {
        self.raw.as_ref()
    }

    /// The payload.
    pub fn into_inner(self) -> T {
        self.event
    }
}

impl<T> Deref for Received<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.event
    }
}

impl<T> DerefMut for Received<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.event
    }
}

impl<T: fmt::Debug> fmt::Debug for Received<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.event.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Received<T> {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
    }
}

/// Serialises a payload with its `type` tag first.
#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    ty: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

macro_rules! server_events {
    ( $( $wire:literal => $variant:ident ),+ $(,)? ) => {
        /// An event received from the server, or a local event about the connection.
        ///
        /// Variants are named after the GA event types (`response.output_audio.delta` →
        /// [`ServerEvent::ResponseOutputAudioDelta`]) and hold a [`Received`] payload.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ServerEvent {
            $(
                #[doc = concat!("`", $wire, "`")]
                $variant(Received<$variant>),
            )+
            /// An event type this version does not know; the session continues.
            Unknown {
                /// The event's `type` as sent.
                event_type: String,
                /// The whole event.
                raw: RawJson,
            },
            /// An event whose JSON is invalid, or whose payload does not match its known
            /// type; the session continues.
            Malformed {
                /// The event's `type` (GA name), or empty when there was none.
                event_type: String,
                /// What failed to parse, with its position.
                error: String,
                /// The whole event.
                raw: RawJson,
            },
            /// Local: the connection was lost. With a reconnect policy, `will_reconnect`
            /// says whether a new connection is being attempted; otherwise this is the
            /// last event before the receiver ends.
            Disconnected(Disconnected),
            /// Local: a new connection replaced the lost one; it is a new server session.
            Reconnected(Reconnected),
            /// Local: the next event broke the contract it was checked against
            /// ([`ConnectOptions::check`](crate::realtime::ConnectOptions::check)).
            Warning(Warning),
        }

        impl ServerEvent {
            /// Every GA server event type this version models.
            pub const TYPES: &'static [&'static str] = &[$($wire),+];

            /// The event's type (the GA name; `vivavoce.*` for local events).
            pub fn event_type(&self) -> &str {
                match self {
                    $( ServerEvent::$variant(_) => $wire, )+
                    ServerEvent::Unknown { event_type, .. } => event_type,
                    ServerEvent::Malformed { event_type, .. } => event_type,
                    ServerEvent::Disconnected(_) => Disconnected::TYPE,
                    ServerEvent::Reconnected(_) => Reconnected::TYPE,
                    ServerEvent::Warning(_) => Warning::TYPE,
                }
            }

            /// The JSON text the event was parsed from (`None` for local events and
            /// events built locally).
            pub fn raw(&self) -> Option<&RawJson> {
                match self {
                    $( ServerEvent::$variant(e) => e.raw(), )+
                    ServerEvent::Unknown { raw, .. } | ServerEvent::Malformed { raw, .. } => Some(raw),
                    ServerEvent::Disconnected(_) | ServerEvent::Reconnected(_) | ServerEvent::Warning(_) => None,
                }
            }

            /// Parses `text` as the GA type `ga_type`; `None` when the type is not modelled.
            pub(crate) fn parse_known(ga_type: &str, text: &str, raw: RawJson) -> Option<ServerEvent> {
                Some(match ga_type {
                    $( $wire => match serde_json::from_str::<$variant>(text) {
                        Ok(event) => ServerEvent::$variant(Received::with_raw(event, raw)),
                        Err(_) => ServerEvent::Malformed {
                            event_type: ga_type.to_owned(),
                            error: describe_error::<$variant>(text),
                            raw,
                        },
                    }, )+
                    _ => return None,
                })
            }
        }

        $(
            impl From<$variant> for ServerEvent {
                fn from(event: $variant) -> Self {
                    ServerEvent::$variant(Received::new(event))
                }
            }
        )+

        impl Serialize for ServerEvent {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( ServerEvent::$variant(e) => Tagged { ty: $wire, inner: &**e }.serialize(s), )+
                    ServerEvent::Unknown { raw, .. } | ServerEvent::Malformed { raw, .. } => {
                        match serde_json::from_str::<Value>(raw.as_str()) {
                            Ok(v) => v.serialize(s),
                            Err(_) => raw.as_str().serialize(s),
                        }
                    }
                    ServerEvent::Disconnected(d) => Tagged { ty: Disconnected::TYPE, inner: d }.serialize(s),
                    ServerEvent::Reconnected(r) => Tagged { ty: Reconnected::TYPE, inner: r }.serialize(s),
                    ServerEvent::Warning(w) => Tagged { ty: Warning::TYPE, inner: w }.serialize(s),
                }
            }
        }
    };
}

server_events! {
    "session.created" => SessionCreated,
    "session.updated" => SessionUpdated,
    "conversation.created" => ConversationCreated,
    "conversation.item.created" => ConversationItemCreated,
    "conversation.item.added" => ConversationItemAdded,
    "conversation.item.done" => ConversationItemDone,
    "conversation.item.retrieved" => ConversationItemRetrieved,
    "conversation.item.deleted" => ConversationItemDeleted,
    "conversation.item.truncated" => ConversationItemTruncated,
    "conversation.item.input_audio_transcription.completed" => InputAudioTranscriptionCompleted,
    "conversation.item.input_audio_transcription.delta" => InputAudioTranscriptionDelta,
    "conversation.item.input_audio_transcription.failed" => InputAudioTranscriptionFailed,
    "conversation.item.input_audio_transcription.segment" => InputAudioTranscriptionSegment,
    "input_audio_buffer.committed" => InputAudioBufferCommitted,
    "input_audio_buffer.cleared" => InputAudioBufferCleared,
    "input_audio_buffer.speech_started" => InputAudioBufferSpeechStarted,
    "input_audio_buffer.speech_stopped" => InputAudioBufferSpeechStopped,
    "input_audio_buffer.timeout_triggered" => InputAudioBufferTimeoutTriggered,
    "input_audio_buffer.dtmf_event_received" => InputAudioBufferDtmfEventReceived,
    "output_audio_buffer.started" => OutputAudioBufferStarted,
    "output_audio_buffer.stopped" => OutputAudioBufferStopped,
    "output_audio_buffer.cleared" => OutputAudioBufferCleared,
    "response.created" => ResponseCreated,
    "response.done" => ResponseDone,
    "response.output_item.added" => ResponseOutputItemAdded,
    "response.output_item.done" => ResponseOutputItemDone,
    "response.content_part.added" => ResponseContentPartAdded,
    "response.content_part.done" => ResponseContentPartDone,
    "response.output_text.delta" => ResponseOutputTextDelta,
    "response.output_text.done" => ResponseOutputTextDone,
    "response.output_audio.delta" => ResponseOutputAudioDelta,
    "response.output_audio.done" => ResponseOutputAudioDone,
    "response.output_audio_transcript.delta" => ResponseOutputAudioTranscriptDelta,
    "response.output_audio_transcript.done" => ResponseOutputAudioTranscriptDone,
    "response.function_call_arguments.delta" => ResponseFunctionCallArgumentsDelta,
    "response.function_call_arguments.done" => ResponseFunctionCallArgumentsDone,
    "response.mcp_call_arguments.delta" => ResponseMcpCallArgumentsDelta,
    "response.mcp_call_arguments.done" => ResponseMcpCallArgumentsDone,
    "response.mcp_call.in_progress" => ResponseMcpCallInProgress,
    "response.mcp_call.completed" => ResponseMcpCallCompleted,
    "response.mcp_call.failed" => ResponseMcpCallFailed,
    "mcp_list_tools.in_progress" => McpListToolsInProgress,
    "mcp_list_tools.completed" => McpListToolsCompleted,
    "mcp_list_tools.failed" => McpListToolsFailed,
    "rate_limits.updated" => RateLimitsUpdated,
    "error" => ErrorEvent,
}

/// Parses again to say which field failed, and where (only on the error path, so the
/// common case pays nothing for it).
fn describe_error<T: serde::de::DeserializeOwned>(text: &str) -> String {
    match serde_json::from_str::<T>(text) {
        Ok(_) => "the payload does not match its type".to_owned(),
        Err(e) => crate::json_path::describe(text, &e),
    }
}

impl ServerEvent {
    /// Parses one event from its JSON text. Never fails: invalid JSON or a payload that
    /// does not fit its type gives [`ServerEvent::Malformed`], an unknown type
    /// [`ServerEvent::Unknown`].
    pub fn from_json(text: impl Into<String>) -> ServerEvent {
        Self::parse(RawJson::from(text.into()))
    }

    /// Parses one event from shared JSON text without copying it (a clone of
    /// [`RawJson`] only bumps a reference count).
    pub fn parse(raw: RawJson) -> ServerEvent {
        parse::parse_server_event(raw.0)
    }
}

macro_rules! client_events {
    ( $( $wire:literal => $variant:ident ),+ $(,)? ) => {
        /// An event to send to the server.
        ///
        /// ```
        /// use vivavoce::realtime::ClientEvent;
        /// use vivavoce::realtime::events::ResponseCreate;
        /// let event = ClientEvent::from(ResponseCreate::default());
        /// assert_eq!(serde_json::to_string(&event).unwrap(), r#"{"type":"response.create"}"#);
        /// ```
        // `session.update` is large but rare; boxing it would make every use clumsier.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type")]
        #[non_exhaustive]
        pub enum ClientEvent {
            $(
                #[doc = concat!("`", $wire, "`")]
                #[serde(rename = $wire)]
                $variant($variant),
            )+
            /// Any JSON object, sent as it is: for fields or events the types do not model yet.
            #[serde(untagged)]
            Raw(Value),
        }

        impl ClientEvent {
            /// Every GA client event type this version models.
            pub const TYPES: &'static [&'static str] = &[$($wire),+];

            /// The event's `type` (for [`ClientEvent::Raw`], its `type` field, or "").
            pub fn event_type(&self) -> &str {
                match self {
                    $( ClientEvent::$variant(_) => $wire, )+
                    ClientEvent::Raw(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
                }
            }
        }

        $(
            impl From<$variant> for ClientEvent {
                fn from(event: $variant) -> Self {
                    ClientEvent::$variant(event)
                }
            }
        )+
    };
}

client_events! {
    "session.update" => SessionUpdate,
    "input_audio_buffer.append" => InputAudioBufferAppend,
    "input_audio_buffer.commit" => InputAudioBufferCommit,
    "input_audio_buffer.clear" => InputAudioBufferClear,
    "output_audio_buffer.clear" => OutputAudioBufferClear,
    "conversation.item.create" => ConversationItemCreate,
    "conversation.item.retrieve" => ConversationItemRetrieve,
    "conversation.item.delete" => ConversationItemDelete,
    "conversation.item.truncate" => ConversationItemTruncate,
    "response.create" => ResponseCreate,
    "response.cancel" => ResponseCancel,
}

impl From<Value> for ClientEvent {
    fn from(v: Value) -> Self {
        ClientEvent::Raw(v)
    }
}
