//! Chat Completions chunks (`chat.completion.chunk`) and what they add up to.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::content::TokenLogprob;
use crate::error::ApiError;

/// Token counts, from the usage-only final chunk or the finish chunk.
///
/// The counts providers give in detail objects are read by
/// [`cached_tokens`](Self::cached_tokens) and [`reasoning_tokens`](Self::reasoning_tokens)
/// (methods, not fields, so that a chunk stays small), and kept as sent in
/// [`extra`](Self::extra).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both.
    #[serde(default)]
    pub total_tokens: u64,
    /// Anything else the provider reports (details, cost, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Prompt tokens read from the provider's cache: `prompt_tokens_details.cached_tokens`
    /// (OpenAI, OpenRouter, DeepSeek), else the Responses API's
    /// `input_tokens_details.cached_tokens`, else DeepSeek's `prompt_cache_hit_tokens`,
    /// else Anthropic's `cache_read_input_tokens`, else Gemini's `cachedContentTokenCount`;
    /// `None` when the provider gives none.
    pub fn cached_tokens(&self) -> Option<u64> {
        self.count("prompt_tokens_details", "cached_tokens")
            .or_else(|| self.count("input_tokens_details", "cached_tokens"))
            .or_else(|| self.count("prompt_cache_hit_tokens", ""))
            .or_else(|| self.count("cache_read_input_tokens", ""))
            .or_else(|| self.count("cachedContentTokenCount", ""))
    }

    /// Completion tokens spent reasoning: `completion_tokens_details.reasoning_tokens`,
    /// else the Responses API's `output_tokens_details.reasoning_tokens`, else a
    /// top-level `reasoning_tokens`, else Gemini's `thoughtsTokenCount`; `None` when the
    /// provider gives none.
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.count("completion_tokens_details", "reasoning_tokens")
            .or_else(|| self.count("output_tokens_details", "reasoning_tokens"))
            .or_else(|| self.count("reasoning_tokens", ""))
            .or_else(|| self.count("thoughtsTokenCount", ""))
    }

    /// `extra[outer][inner]` (or `extra[outer]` for an empty `inner`), as a count.
    fn count(&self, outer: &str, inner: &str) -> Option<u64> {
        let v = self.extra.get(outer)?;
        if inner.is_empty() {
            Some(v)
        } else {
            v.get(inner)
        }?
        .as_u64()
    }
}

/// A fragment of a tool call, as a chunk carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawToolCallDelta")]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Which call this fragment belongs to (0 when the provider sends none, as Mistral
    /// does: see [`indexed`](Self::indexed)).
    pub index: u32,
    /// Whether the fragment carried an `index`. Without one, the accumulator tells calls
    /// apart by their `id`.
    #[serde(skip)]
    pub indexed: bool,
    /// The call's id (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function name and an argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct RawToolCallDelta {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

impl From<RawToolCallDelta> for ToolCallDelta {
    fn from(t: RawToolCallDelta) -> Self {
        ToolCallDelta {
            index: t.index.unwrap_or(0),
            indexed: t.index.is_some(),
            id: t.id,
            function: t.function,
        }
    }
}

/// A function call fragment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionDelta {
    /// The function's name (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// What one chunk says about one choice.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ChoiceDelta {
    /// The choice (0 unless `n > 1`).
    pub index: u32,
    /// Text added (the text parts, when the provider sends `content` as a list of
    /// typed parts).
    pub content: Option<String>,
    /// Reasoning text added, kept apart from the content: `reasoning_content` (DeepSeek,
    /// vLLM), `reasoning` (OpenRouter, Ollama) or `thinking` content parts (Mistral).
    pub reasoning: Option<String>,
    /// The role (first chunk).
    pub role: Option<String>,
    /// Refusal text added.
    pub refusal: Option<String>,
    /// Tool call fragments.
    pub tool_calls: Vec<ToolCallDelta>,
    /// Why the choice finished (last chunk), as the provider says it: see
    /// [`FinishReason`](super::FinishReason) for one reading of all of them.
    pub finish_reason: Option<String>,
    /// The tokens' log probabilities (`logprobs.content`), when the request asked for
    /// them.
    pub logprobs: Vec<TokenLogprob>,
}

/// A parsed chunk.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Delta {
    /// The completion's id (shared between the chunks of one stream, which repeat it).
    pub id: Option<Arc<str>>,
    /// The model that answered (shared like `id`).
    pub model: Option<Arc<str>>,
    /// Per choice.
    pub choices: Vec<ChoiceDelta>,
    /// Usage, when this chunk carries it.
    pub usage: Option<Usage>,
    /// An error object sent inside the stream (`{"error": {…}}` in a 200 answer, as
    /// OpenRouter does when the model fails mid-way). The engine ends the request with it.
    pub error: Option<Box<ApiError>>,
}

// What an error says was expected: "expected a choice object".
#[derive(Deserialize)]
#[serde(expecting = "a chat.completion.chunk object")]
struct RawChunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Vec<ChoiceDelta>,
    usage: Option<Usage>,
    /// Only whether there is one: the error is read again from the text, rarely.
    error: Option<IgnoredAny>,
}

/// The id and model of the last chunk, so the next chunks that repeat them (all of them,
/// in practice) share one allocation rather than making two each.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(super) id: Option<Arc<str>>,
    pub(super) model: Option<Arc<str>>,
}

pub(super) fn share(last: &mut Option<Arc<str>>, name: Option<Cow<'_, str>>) -> Option<Arc<str>> {
    let name = name?;
    match last {
        Some(l) if **l == *name => {}
        _ => *last = Some(Arc::from(name.as_ref())),
    }
    last.clone()
}

impl Delta {
    /// Parses a chunk (or a whole non-streamed completion, whose `message`s read as deltas).
    ///
    /// # Errors
    ///
    /// [`DeltaError`] when `data` is not JSON, is cut short, or is JSON that does not fit
    /// a chunk (a value of the wrong type): what was wrong, where (line, column) and in
    /// which field.
    ///
    /// ```
    /// use vivavoce::chat::{Delta, DeltaErrorKind};
    ///
    /// let e = Delta::parse(r#"{"choices":[{"index":"one"}]}"#).unwrap_err();
    /// assert_eq!(e.kind, DeltaErrorKind::Data);
    /// assert_eq!(e.path.as_deref(), Some("choices[0].index"));
    /// assert_eq!((e.line, e.column), (1, 26));
    /// ```
    pub fn parse(data: &str) -> Result<Delta, DeltaError> {
        Self::parse_sharing(data, &mut Names::default())
    }

    /// [`parse`](Self::parse), reusing the names of the chunk before. (A stream reads its
    /// chunks through `fast_path::chunk` first, which gives up to this on anything but
    /// the plain shape.)
    pub(crate) fn parse_sharing(data: &str, names: &mut Names) -> Result<Delta, DeltaError> {
        let raw: RawChunk = match serde_json::from_str(data) {
            Ok(raw) => raw,
            Err(e) => return Err(DeltaError::new(data, &e)),
        };
        Ok(Delta {
            id: share(&mut names.id, raw.id),
            model: share(&mut names.model, raw.model),
            usage: raw.usage,
            choices: raw.choices,
            error: raw.error.map(|_| stream_error(data)),
        })
    }
}

/// The error object of a chunk that carries one.
#[cold]
fn stream_error(data: &str) -> Box<ApiError> {
    Box::new(ApiError::of_event(data))
}

/// Why a chunk could not be read: see [`Delta::parse`].
///
/// Displays as serde_json does, with the field in front when known:
/// `choices[0].index: invalid type: string "one", expected u32 at line 1 column 26`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeltaError {
    /// What kind of error.
    pub kind: DeltaErrorKind,
    /// The line (1-based) where it was found.
    pub line: usize,
    /// The column (1-based) where it was found.
    pub column: usize,
    /// The JSON path of the value that was wrong (`choices[0].delta.content`), when it is
    /// inside the chunk; `None` for an error at the top level.
    pub path: Option<String>,
    /// What was wrong, as serde_json says it (without the position).
    pub message: String,
}

/// What kind of [`DeltaError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeltaErrorKind {
    /// Not JSON (`{not json`), or something after the JSON value.
    Syntax,
    /// JSON that does not fit a chunk: a value of the wrong type.
    Data,
    /// The text ends before the JSON value does (a chunk cut short).
    Eof,
}

impl DeltaError {
    /// Describes `error`, met parsing `data` (its line and column, in `data`). Only
    /// failures pay for this: the path comes from walking `data` up to that position.
    #[cold]
    #[inline(never)]
    pub(crate) fn new(data: &str, error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match error.classify() {
            Category::Data => DeltaErrorKind::Data,
            Category::Eof => DeltaErrorKind::Eof,
            Category::Syntax | Category::Io => DeltaErrorKind::Syntax,
        };
        let (line, column) = (error.line(), error.column());
        let text = error.to_string();
        let position = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&position).unwrap_or(&text).to_owned();
        let path = crate::json_path::path_of(data, error);
        DeltaError {
            kind,
            line,
            column,
            path,
            message,
        }
    }
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.message)?;
        if self.line > 0 {
            write!(f, " at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for DeltaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_say_what_and_where() {
        fn is_error<E: std::error::Error + Clone + Send + Sync + 'static>(_: &E) {}

        let e = Delta::parse("{not json").unwrap_err();
        is_error(&e);
        assert_eq!((e.kind, e.line, e.column), (DeltaErrorKind::Syntax, 1, 2));
        assert_eq!(
            (e.path.as_deref(), e.message.as_str()),
            (None, "key must be a string")
        );
        assert_eq!(e.to_string(), "key must be a string at line 1 column 2");

        let data = "{\"id\":\"c1\",\n\"choices\":[{\"index\":0,\"delta\":{\"content\":7}}]}";
        let e = Delta::parse(data).unwrap_err();
        assert_eq!((e.kind, e.line), (DeltaErrorKind::Data, 2));
        assert_eq!(e.path.as_deref(), Some("choices[0].delta.content"));
        assert!(e.message.starts_with("invalid type: integer `7`"), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "choices[0].delta.content: {} at line 2 column {}",
                e.message, e.column
            )
        );

        let e = Delta::parse(r#"{"usage":{"total_tokens":-1}}"#).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("usage.total_tokens"));

        let e = Delta::parse(r#"{"choices":[{"index":0,"delta":{"content":"cut"#).unwrap_err();
        assert_eq!(e.kind, DeltaErrorKind::Eof);
        assert_eq!(e.path.as_deref(), Some("choices[0].delta.content"));

        let e = Delta::parse(r#"{"choices":[]} more"#).unwrap_err();
        assert_eq!((e.kind, e.path.as_deref()), (DeltaErrorKind::Syntax, None));
        assert_eq!(e.message, "trailing characters");

        let e = Delta::parse(r#""hello""#).unwrap_err();
        assert_eq!((e.kind, e.path.as_deref()), (DeltaErrorKind::Data, None));
        assert_eq!(
            e.to_string(),
            r#"invalid type: string "hello", expected a chat.completion.chunk object at line 1 column 7"#
        );
        let e = Delta::parse(r#"{"choices":[5]}"#).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("choices[0]"));
        assert_eq!(
            e.message,
            "invalid type: integer `5`, expected a choice object"
        );
    }

    #[test]
    fn usage_details_are_read_where_given() {
        let usage = |json: &str| serde_json::from_str::<Usage>(json).unwrap();
        let u = usage(
            r#"{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}"#,
        );
        assert_eq!(
            (u.cached_tokens(), u.reasoning_tokens()),
            (Some(4), Some(2))
        );
        let u = usage(r#"{"prompt_cache_hit_tokens":5,"prompt_tokens_details":null}"#);
        assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (Some(5), None));
        let u = usage(r#"{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}"#);
        assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (None, None));
    }

    #[test]
    fn an_error_object_is_read_not_taken_for_an_empty_chunk() {
        let d = Delta::parse(r#"{"error":{"code":502,"message":"Upstream error"}}"#).unwrap();
        let e = d.error.unwrap();
        assert_eq!(
            (e.code.as_deref(), e.message.as_str()),
            (Some("502"), "Upstream error")
        );
        let d = Delta::parse(r#"{"error":"overloaded"}"#).unwrap();
        assert_eq!(d.error.unwrap().message, "overloaded");
        let d = Delta::parse(r#"{"error":null,"choices":[]}"#).unwrap();
        assert!(d.error.is_none());
    }

    #[test]
    fn reasoning_fields_and_thinking_parts_go_to_reasoning() {
        let choice = |json: &str| Delta::parse(json).unwrap().choices.remove(0);
        let c = choice(r#"{"choices":[{"delta":{"content":null,"reasoning_content":"a"}}]}"#);
        assert_eq!((c.content, c.reasoning.as_deref()), (None, Some("a")));
        let c = choice(r#"{"choices":[{"delta":{"reasoning":"b","reasoning_content":"b"}}]}"#);
        assert_eq!(
            c.reasoning.as_deref(),
            Some("b"),
            "the same text twice is kept once"
        );
        let c = choice(
            r#"{"choices":[{"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"t"}]},{"type":"text","text":"x"}]}}]}"#,
        );
        assert_eq!(
            (c.content.as_deref(), c.reasoning.as_deref()),
            (Some("x"), Some("t"))
        );
    }

    #[test]
    fn a_whole_completion_reads_as_one_delta() {
        let d = Delta::parse(r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#).unwrap();
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
        assert_eq!(d.usage.unwrap().total_tokens, 2);
    }
}
