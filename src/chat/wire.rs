//! Which wire format a chat request speaks, and reading each format's events as the same
//! [`Delta`]s.

use super::anthropic;
use super::delta::{Delta, DeltaError, Names};
use super::fast_path;
use super::gemini;
use super::ollama;
use super::read::Read;
use super::responses;

/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` when the request does not set it (the Messages API requires one).
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 1024;

/// The wire format a request speaks. Every format is read as the same [`Delta`]s, so
/// accumulation, [`Chunk::text`](super::Chunk::text), relaying and callbacks work
/// unchanged; each chunk keeps its provider's raw event in
/// [`Chunk::data`](super::Chunk::data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI Chat Completions (and every compatible server). The default.
    #[default]
    OpenAI,
    /// Anthropic Messages: `POST {base}/messages` with `x-api-key` and
    /// `anthropic-version`, system messages in a top-level `system`, and its own stream
    /// events.
    Anthropic,
    /// Google Gemini: `POST {root}/models/{model}:streamGenerateContent?alt=sse` (or
    /// `:generateContent` when not streaming) with the key in `x-goog-api-key`;
    /// [`ChatOptions::url`](super::ChatOptions::url) is the API root
    /// (`https://generativelanguage.googleapis.com/v1beta`). The stream has no end marker:
    /// its end after a `finishReason` is a normal end.
    Gemini,
    /// Ollama's native `POST {base}/api/chat`: newline-delimited JSON rather than SSE, the
    /// last line `done: true` with the stop reason and the eval counts as usage.
    Ollama,
    /// OpenAI's Responses API: `POST {base}/responses`, typed `response.*` events, the
    /// usage in `response.completed`.
    Responses,
}

/// How a wire format frames its events in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Server-sent events.
    Sse,
    /// One JSON object per line.
    Lines,
}

impl Wire {
    pub(crate) fn framing(self) -> Framing {
        match self {
            Wire::Ollama => Framing::Lines,
            _ => Framing::Sse,
        }
    }
}

/// A stream's reader: what each format needs to remember between events.
#[derive(Debug)]
pub(crate) enum Reader {
    OpenAI(Names),
    Anthropic(anthropic::StreamState),
    Gemini(gemini::StreamState),
    Ollama(ollama::StreamState),
    Responses(responses::StreamState),
}

impl Reader {
    pub(crate) fn new(wire: Wire) -> Self {
        match wire {
            Wire::OpenAI => Reader::OpenAI(Names::default()),
            Wire::Anthropic => Reader::Anthropic(anthropic::StreamState::default()),
            Wire::Gemini => Reader::Gemini(gemini::StreamState::default()),
            Wire::Ollama => Reader::Ollama(ollama::StreamState::default()),
            Wire::Responses => Reader::Responses(responses::StreamState::default()),
        }
    }

    /// Reads one event's data (an SSE event's `data`, or one line).
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        match self {
            Reader::OpenAI(names) => match fast_path::chunk(data, names) {
                Some(delta) => Ok(Read::Delta(delta)),
                None => Delta::parse_sharing(data, names).map(Read::Delta),
            },
            Reader::Anthropic(s) => s.read(data),
            Reader::Gemini(s) => s.read(data),
            Reader::Ollama(s) => s.read(data),
            Reader::Responses(s) => s.read(data),
        }
    }

    /// Whether the body ending now is the normal end of the answer (a format without an
    /// end marker, after its stop reason).
    pub(crate) fn ends_at_eof(&self) -> bool {
        match self {
            Reader::Gemini(s) => s.finished(),
            _ => false,
        }
    }
}

/// Reads a whole, non-streamed answer of `wire` as one delta.
pub(crate) fn parse_whole(wire: Wire, text: &str) -> Result<Delta, DeltaError> {
    match wire {
        Wire::OpenAI => Delta::parse(text),
        Wire::Anthropic => anthropic::parse_message(text),
        Wire::Gemini => gemini::parse_message(text),
        Wire::Ollama => ollama::parse_message(text),
        Wire::Responses => responses::parse_message(text),
    }
}
