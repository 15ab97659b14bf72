//! What a request delivers: chunks, then one terminal event.

use std::sync::Arc;

use super::accumulate::{Accumulator, Choice, FinishReason, ToolCall};
use super::content::TokenLogprob;
use super::delta::{Delta, Usage};
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

impl Chunk {
    /// A chunk of one read event and its parsed delta.
    pub(crate) fn of(ev: super::sse::SseEvent, delta: Option<super::delta::Delta>) -> Self {
        Chunk {
            id: ev.id,
            event: ev.event,
            data: ev.data,
            delta,
            done: false,
        }
    }

    /// The text this chunk adds to the answer: choice 0's content delta — the common read
    /// while streaming.
    ///
    /// A refusal counts as text, as in [`Accumulated::content`]: a chunk with no content
    /// but a refusal delta gives the refusal (tell them apart with the delta's
    /// [`refusal`](super::ChoiceDelta::refusal) field, or [`Accumulated::refused`] at the
    /// end). `None` for a chunk without either (tool call fragments, the finish and usage
    /// chunks, `[DONE]`, a chunk that did not parse) and for other choices' chunks
    /// (`n > 1`); `Some("")` for the API's first chunk, which gives the role and empty
    /// content.
    ///
    /// ```
    /// use vivavoce::chat::{ChatEvent, Chunk};
    ///
    /// fn print(event: &ChatEvent) {
    ///     if let ChatEvent::Chunk(c) = event {
    ///         print!("{}", c.text().unwrap_or_default());
    ///     }
    /// }
    /// ```
    pub fn text(&self) -> Option<&str> {
        let choice = self.delta.as_ref()?.choices.iter().find(|c| c.index == 0)?;
        match (choice.content.as_deref(), choice.refusal.as_deref()) {
            (Some(text), _) if !text.is_empty() => Some(text),
            (content, refusal) => refusal.or(content),
        }
    }

    /// The reasoning text this chunk adds: choice 0's
    /// [`reasoning`](super::ChoiceDelta::reasoning) delta (`reasoning_content`,
    /// `reasoning`, or `thinking` content parts), which [`text`](Self::text) leaves out.
    /// `None` for a chunk without any.
    pub fn reasoning(&self) -> Option<&str> {
        let choice = self.delta.as_ref()?.choices.iter().find(|c| c.index == 0)?;
        choice.reasoning.as_deref()
    }
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
    /// The connection ended without `[DONE]`, between events. (A body ending inside an
    /// event is an [`Error::InvalidResponse`](crate::Error::InvalidResponse) naming the
    /// chunk: what it was is unknown.)
    Eof,
}

/// What the chunks added up to (with `accumulate` on).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Accumulated {
    /// The first choice's text (a refusal folded in).
    pub content: String,
    /// Its reasoning text, kept apart from the content (empty when the model gave none).
    pub reasoning: String,
    /// Its role.
    pub role: Option<String>,
    /// The API's finish reason for it, as sent: [`finish`](Self::finish) reads it.
    pub finish_reason: Option<String>,
    /// Its tool calls, merged.
    pub tool_calls: Vec<ToolCall>,
    /// Its refusal, if any.
    pub refusal: Option<String>,
    /// Whether it refused.
    pub refused: bool,
    /// Usage, if reported.
    pub usage: Option<Usage>,
    /// Its tokens' log probabilities, when the request asked for them.
    pub logprobs: Vec<TokenLogprob>,
    /// The completion's id: the first non-empty one.
    pub id: Option<Arc<str>>,
    /// The model that answered: the first non-empty one.
    pub model: Option<Arc<str>>,
    /// Every choice (`n > 1`), apart.
    pub choices: Vec<Choice>,
}

impl Accumulated {
    pub(super) fn from(acc: &Accumulator) -> Self {
        let first = acc
            .choices
            .iter()
            .find(|c| c.index == 0)
            .cloned()
            .unwrap_or_default();
        Accumulated {
            content: first.content,
            reasoning: first.reasoning,
            role: first.role,
            finish_reason: first.finish_reason,
            tool_calls: first.tool_calls,
            refusal: first.refusal,
            refused: first.refused,
            usage: acc.usage.clone(),
            logprobs: first.logprobs,
            id: acc.id.clone(),
            model: acc.model.clone(),
            choices: acc.choices.clone(),
        }
    }

    /// Why the first choice finished, read as a [`FinishReason`] (`None` when the stream
    /// gave no finish reason).
    pub fn finish(&self) -> Option<FinishReason> {
        self.finish_reason.as_deref().map(FinishReason::parse)
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

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (after {} characters of the answer)",
            self.error,
            self.partial.content.chars().count()
        )
    }
}

impl std::error::Error for ChatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The error alone, for `?` in functions that return the crate's [`Error`] (what was
/// received before is dropped).
impl From<ChatError> for Error {
    fn from(e: ChatError) -> Self {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(data: &str) -> Chunk {
        Chunk {
            data: data.to_owned(),
            delta: Delta::parse(data).ok(),
            ..Chunk::default()
        }
    }

    fn text(data: &str) -> Option<String> {
        chunk(data).text().map(str::to_owned)
    }

    #[test]
    fn text_is_choice_zeros_content_or_refusal() {
        let role =
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null}}]}"#;
        assert_eq!(text(role).as_deref(), Some(""));
        let word = r#"{"choices":[{"index":0,"delta":{"content":"Bonjour "}}]}"#;
        assert_eq!(text(word).as_deref(), Some("Bonjour "));
        let refusal = r#"{"choices":[{"index":0,"delta":{"refusal":"I can't help."}}]}"#;
        assert_eq!(text(refusal).as_deref(), Some("I can't help."));
        let both_empty = r#"{"choices":[{"index":0,"delta":{"content":"","refusal":"No."}}]}"#;
        assert_eq!(text(both_empty).as_deref(), Some("No."));
        // Other choices (n > 1) are not choice 0's text, wherever they come.
        let second = r#"{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}"#;
        assert_eq!(text(second).as_deref(), Some("mine"));
        let only_second = r#"{"choices":[{"index":1,"delta":{"content":"other"}}]}"#;
        assert_eq!(text(only_second), None);
        // Chunks with nothing to read.
        let call = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#;
        let finish = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        let usage =
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        for data in [call, finish, usage, "{not json", "[DONE]"] {
            assert_eq!(text(data), None, "{data}");
        }
    }

    #[test]
    fn texts_add_up_to_the_accumulated_content() {
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Sorry, "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"I can't "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"help."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ];
        let mut acc = Accumulator::default();
        let mut printed = String::new();
        for data in chunks {
            let c = chunk(data);
            acc.add(c.delta.as_ref().unwrap());
            printed.push_str(c.text().unwrap_or_default());
        }
        assert_eq!(printed, Accumulated::from(&acc).content);
        assert_eq!(printed, "Sorry, I can't help.");
    }
}
