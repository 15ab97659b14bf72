//! What a request delivers: chunks, then one terminal event.

use super::delta::{Accumulator, Choice, Delta, ToolCall, Usage};
use crate::Error;

/// What a request delivers: chunks, then exactly one `Complete` or `Error`, after which
/// the channel closes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ChatEvent {
    /// One SSE event (or the whole body of a non-streamed answer).
    Chunk(Chunk),
    /// The end: why, and everything accumulated. (Boxed: it comes once, and keeps the
    /// per-chunk event small.)
    Complete(Box<Complete>),
    /// The request failed; what was received before is kept.
    Error(Box<ChatError>),
}

/// One chunk as received, and parsed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Chunk {
    /// The SSE `id:` field.
    pub id: Option<String>,
    /// The SSE `event:` field.
    pub event: Option<String>,
    /// The SSE `data:` (the JSON text).
    pub data: String,
    /// The parsed delta (`None` for `[DONE]` and for chunks that did not parse under
    /// [`OnParseError::Continue`](super::OnParseError::Continue)).
    pub delta: Option<Delta>,
    /// Whether this is the `[DONE]` event.
    pub done: bool,
}

/// Why a request completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompleteReason {
    /// The stream ended with `[DONE]` (or the whole answer came, when not streaming).
    Done,
    /// [`StopHandle::stop`](super::StopHandle::stop) was called.
    Stopped,
    /// No event was delivered for `channel_idle_timeout`.
    Timeout,
    /// The connection ended without `[DONE]`.
    Eof,
}

/// What the chunks added up to (with `accumulate` on).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Accumulated {
    /// The first choice's text (a refusal folded in).
    pub content: String,
    /// Its role.
    pub role: Option<String>,
    /// The API's finish reason for it.
    pub finish_reason: Option<String>,
    /// Its tool calls, merged.
    pub tool_calls: Vec<ToolCall>,
    /// Its refusal, if any.
    pub refusal: Option<String>,
    /// Whether it refused.
    pub refused: bool,
    /// Usage, if reported.
    pub usage: Option<Usage>,
    /// Every choice (`n > 1`), apart.
    pub choices: Vec<Choice>,
}

impl Accumulated {
    pub(super) fn from(acc: &Accumulator) -> Self {
        let first = acc.choices.first().cloned().unwrap_or_default();
        Accumulated {
            content: first.content,
            role: first.role,
            finish_reason: first.finish_reason,
            tool_calls: first.tool_calls,
            refusal: first.refusal,
            refused: first.refused,
            usage: acc.usage.clone(),
            choices: acc.choices.clone(),
        }
    }
}

/// The terminal event of a request that ended normally (or was stopped or timed out).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Complete {
    /// Why it ended.
    pub reason: CompleteReason,
    /// What was accumulated.
    pub result: Accumulated,
    /// The `[DONE]` event, when there was one.
    pub done_event: Option<Chunk>,
}

/// The terminal event of a request that failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChatError {
    /// What went wrong: HTTP status and body, parse, connection, timeout, …
    pub error: Error,
    /// What was received before.
    pub partial: Accumulated,
}
