//! What the conversation layer reports: every server event, plus typed notifications
//! derived from them.

use std::time::Duration;

use serde_json::Value;

use super::usage::ResponseUsage;
use crate::realtime::ServerEvent;
use crate::realtime::events::{ResponseStatus, Role, TranscriptionError};

/// One thing the conversation layer reports, from
/// [`Conversation::recv`](super::Conversation::recv).
///
/// Every server event comes through as [`ConversationEvent::Server`], unchanged and in
/// order; the notifications the layer derives from an event follow it.
// As large as `ServerEvent`, which the session hands on by value too; boxing it would cost
// an allocation for every event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConversationEvent {
    /// A server (or local connection) event, as received.
    Server(ServerEvent),
    /// An item's text or transcript grew.
    Text(TextDelta),
    /// An item is complete: its final text is in [`Conversation::item`](super::Conversation::item).
    ItemDone {
        /// The item.
        item_id: String,
    },
    /// An assistant item was cut where the user stopped hearing it; its transcript now
    /// ends there.
    Truncated(TranscriptCut),
    /// The server could not transcribe a user's audio.
    TranscriptionFailed {
        /// The user's item.
        item_id: String,
        /// What went wrong.
        error: TranscriptionError,
    },
    /// A function call was answered (or refused): its output goes back to the model.
    ToolCall(ToolCall),
    /// An MCP server asks to run a tool: answer with
    /// [`Conversation::approve`](super::Conversation::approve) or
    /// [`Conversation::deny`](super::Conversation::deny).
    McpApproval(McpApproval),
    /// A response ended, with its usage.
    ResponseDone(ResponseSummary),
    /// The timing of one turn, complete.
    Turn(TurnLatency),
    /// A turn's wait passed a threshold of the latency budget.
    LatencyBudget(LatencyAlert),
}

/// Where a piece of text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextSource {
    /// The model's text output (`response.output_text.delta`).
    Text,
    /// The transcript of the model's audio (`response.output_audio_transcript.delta`).
    AudioTranscript,
    /// The transcription of the user's audio
    /// (`conversation.item.input_audio_transcription.delta`).
    InputTranscription,
}

/// More text for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextDelta {
    /// The item.
    pub item_id: String,
    /// Who speaks in it.
    pub role: Role,
    /// What kind of text.
    pub source: TextSource,
    /// The new text.
    pub delta: String,
}

/// An assistant item cut at what the user heard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranscriptCut {
    /// The item.
    pub item_id: String,
    /// Where its audio now ends.
    pub audio_end_ms: u32,
    /// Its transcript up to there.
    pub transcript: String,
    /// The part of the transcript the user did not hear.
    pub unheard: String,
}

/// How a function call ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolOutcome {
    /// The handler answered; this output went back to the model.
    Answered(Value),
    /// The arguments were not valid JSON, or broke the function's schema: the handler was
    /// not called, and this description went back to the model.
    InvalidArguments(String),
    /// The model called a function that is not registered.
    UnknownFunction,
    /// The handler returned an error, which went back to the model.
    Failed(String),
    /// The handler did not answer within the timeout.
    TimedOut(Duration),
}

/// A function call of the model, and what came of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolCall {
    /// The response that made the call.
    pub response_id: String,
    /// The call's item.
    pub item_id: String,
    /// The id the output answers.
    pub call_id: String,
    /// The function.
    pub name: String,
    /// The arguments as the model sent them.
    pub arguments: String,
    /// What happened.
    pub outcome: ToolOutcome,
    /// The `output` sent back in the `function_call_output` item.
    pub output: String,
    /// How long the handler took (zero when it was not called).
    pub elapsed: Duration,
}

/// An MCP tool call waiting for the app's approval.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct McpApproval {
    /// The approval request's item id: answer with this.
    pub id: String,
    /// The MCP server.
    pub server_label: String,
    /// The tool.
    pub name: String,
    /// Its arguments (JSON text).
    pub arguments: String,
}

/// A finished response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ResponseSummary {
    /// The response.
    pub response_id: String,
    /// How it ended.
    pub status: Option<ResponseStatus>,
    /// Out of band (`conversation: "none"`): not part of the conversation.
    pub out_of_band: bool,
    /// Its tokens, and their estimated cost.
    pub usage: ResponseUsage,
}

/// The times of one turn, each measured from the end of the user's speech (the server's
/// `speech_stopped`, or the commit), or, for a turn without speech, from the
/// `response.create` the layer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnLatency {
    /// The response.
    pub response_id: String,
    /// Until `response.created` arrived.
    pub created: Duration,
    /// Until the first audio delta arrived (or, with no audio, the first text).
    pub first_delta: Option<Duration>,
    /// Until the first sample of it was heard (with a [`PlayedAudio`](super::PlayedAudio) source).
    pub first_heard: Option<Duration>,
    /// Until `response.done` arrived.
    pub done: Duration,
    /// What the user waited for: until the first sample heard, else the first delta.
    pub wait: Option<Duration>,
}

/// A threshold of the latency budget passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyAlert {
    /// The response, when it has started.
    pub response_id: Option<String>,
    /// `Warn` or `Exceeded`.
    pub level: LatencyLevel,
    /// The threshold passed.
    pub threshold: Duration,
}

/// Which threshold of the latency budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LatencyLevel {
    /// The warning threshold.
    Warn,
    /// The limit.
    Exceeded,
}
