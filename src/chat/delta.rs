//! Chat Completions chunks (`chat.completion.chunk`) and what they add up to.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Token counts, from the usage-only final chunk or the finish chunk.
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

/// A fragment of a tool call, as a chunk carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Which call this fragment belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function name and an argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
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
    /// Text added.
    pub content: Option<String>,
    /// The role (first chunk).
    pub role: Option<String>,
    /// Refusal text added.
    pub refusal: Option<String>,
    /// Tool call fragments.
    pub tool_calls: Vec<ToolCallDelta>,
    /// Why the choice finished (last chunk).
    pub finish_reason: Option<String>,
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
}

#[derive(Deserialize)]
#[serde(expecting = "a choice object")]
struct RawChoice {
    #[serde(default)]
    index: u32,
    /// `delta` in a chunk, `message` in a non-streamed completion.
    #[serde(alias = "message")]
    delta: Option<RawDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(expecting = "a delta object")]
struct RawDelta {
    content: Option<String>,
    role: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

/// Reads a choice as the API writes it (`delta`, or `message` in a whole completion).
impl<'de> Deserialize<'de> for ChoiceDelta {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let c = RawChoice::deserialize(deserializer)?;
        let d = c.delta.unwrap_or_default();
        Ok(ChoiceDelta {
            index: c.index,
            content: d.content,
            role: d.role,
            refusal: d.refusal,
            tool_calls: d.tool_calls.unwrap_or_default(),
            finish_reason: c.finish_reason,
        })
    }
}

/// The id and model of the last chunk, so the next chunks that repeat them (all of them,
/// in practice) share one allocation rather than making two each.
#[derive(Debug, Default)]
pub(crate) struct Names {
    id: Option<Arc<str>>,
    model: Option<Arc<str>>,
}

fn share(last: &mut Option<Arc<str>>, name: Option<Cow<'_, str>>) -> Option<Arc<str>> {
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

    /// [`parse`](Self::parse), reusing the names of the chunk before.
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
        })
    }
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
    /// Describes `error`, met parsing `data`. Only failures pay for this: the path comes
    /// from parsing `data` again, tracking where the parser is.
    #[cold]
    #[inline(never)]
    fn new(data: &str, error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        use serde_path_to_error::Segment;
        let kind = match error.classify() {
            Category::Data => DeltaErrorKind::Data,
            Category::Eof => DeltaErrorKind::Eof,
            Category::Syntax | Category::Io => DeltaErrorKind::Syntax,
        };
        let (line, column) = (error.line(), error.column());
        let text = error.to_string();
        let position = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&position).unwrap_or(&text).to_owned();
        let mut de = serde_json::Deserializer::from_str(data);
        let path = match serde_path_to_error::deserialize::<_, RawChunk>(&mut de) {
            // A path of only `?` (a map key being read) says nothing.
            Err(e) if e.path().iter().any(|s| !matches!(s, Segment::Unknown)) => {
                Some(e.path().to_string())
            }
            _ => None,
        };
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

/// A tool call, merged from its fragments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// Its index in the message.
    pub index: u32,
    /// The call's id.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The JSON arguments, concatenated.
    pub arguments: String,
}

/// One choice, accumulated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Choice {
    /// Its index.
    pub index: u32,
    /// The text so far (a refusal is folded in here too, with `refused` set).
    pub content: String,
    /// The role.
    pub role: Option<String>,
    /// The refusal text, if the model refused.
    pub refusal: Option<String>,
    /// Whether the model refused.
    pub refused: bool,
    /// Tool calls merged by index.
    pub tool_calls: Vec<ToolCall>,
    /// Why it finished.
    pub finish_reason: Option<String>,
}

/// Adds chunks up.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    /// The choices so far, by index.
    pub choices: Vec<Choice>,
    /// Usage, once reported.
    pub usage: Option<Usage>,
    /// The model.
    pub model: Option<Arc<str>>,
    /// The completion's id.
    pub id: Option<Arc<str>>,
}

impl Accumulator {
    /// Adds one chunk.
    pub fn add(&mut self, delta: &Delta) {
        if self.id.is_none() {
            self.id.clone_from(&delta.id);
        }
        if self.model.is_none() {
            self.model.clone_from(&delta.model);
        }
        if delta.usage.is_some() {
            self.usage.clone_from(&delta.usage);
        }
        for d in &delta.choices {
            let i = d.index as usize;
            while self.choices.len() <= i {
                let index = self.choices.len() as u32;
                self.choices.push(Choice {
                    index,
                    ..Choice::default()
                });
            }
            let c = &mut self.choices[i];
            if let Some(t) = &d.content {
                c.content.push_str(t);
            }
            if c.role.is_none() {
                c.role.clone_from(&d.role);
            }
            if let Some(r) = &d.refusal {
                c.refusal.get_or_insert_with(String::new).push_str(r);
                c.content.push_str(r);
                c.refused = true;
            }
            for t in &d.tool_calls {
                let pos = match c.tool_calls.iter().position(|x| x.index == t.index) {
                    Some(p) => p,
                    None => {
                        c.tool_calls.push(ToolCall {
                            index: t.index,
                            ..ToolCall::default()
                        });
                        c.tool_calls.len() - 1
                    }
                };
                let call = &mut c.tool_calls[pos];
                if let Some(id) = &t.id {
                    call.id.push_str(id);
                }
                if let Some(f) = &t.function {
                    if let Some(n) = &f.name {
                        call.name.push_str(n);
                    }
                    if let Some(a) = &f.arguments {
                        call.arguments.push_str(a);
                    }
                }
            }
            if d.finish_reason.is_some() {
                c.finish_reason.clone_from(&d.finish_reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_merge_by_index_and_choices_stay_apart() {
        let chunks = [
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"time","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"weather","arguments":"{\"city\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}},{"index":1,"delta":{"content":"second"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        ];
        let mut acc = Accumulator::default();
        for c in chunks {
            acc.add(&Delta::parse(c).unwrap());
        }
        let c0 = &acc.choices[0];
        assert_eq!(c0.tool_calls.len(), 2);
        assert_eq!(
            (c0.tool_calls[0].id.as_str(), c0.tool_calls[0].name.as_str()),
            ("call_a", "get_weather")
        );
        assert_eq!(c0.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c0.tool_calls[1].name, "time");
        assert_eq!(c0.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(acc.choices[1].content, "second");
        let u = acc.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.total_tokens), (3, 8));
        assert!(u.extra.contains_key("completion_tokens_details"));
        assert_eq!(acc.id.as_deref(), Some("c1"));
    }

    #[test]
    fn refusal_is_folded_into_content_with_a_flag() {
        let mut acc = Accumulator::default();
        acc.add(
            &Delta::parse(r#"{"choices":[{"index":0,"delta":{"refusal":"I can't "}}]}"#).unwrap(),
        );
        acc.add(&Delta::parse(r#"{"choices":[{"index":0,"delta":{"refusal":"help."}}]}"#).unwrap());
        let c = &acc.choices[0];
        assert!(c.refused);
        assert_eq!(c.content, "I can't help.");
        assert_eq!(c.refusal.as_deref(), Some("I can't help."));
    }

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
    fn a_whole_completion_reads_as_one_delta() {
        let d = Delta::parse(r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#).unwrap();
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
        assert_eq!(d.usage.unwrap().total_tokens, 2);
    }
}
