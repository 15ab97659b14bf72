//! Anthropic's Messages API: the request body, and its stream events read as the same
//! [`Delta`]s as Chat Completions chunks, so that accumulation, `Chunk::text`, relaying
//! and callbacks work unchanged.
//!
//! What has no place in a [`Delta`] stays in the chunk's raw `data` (every event is
//! delivered as a chunk, named by its `event:`): a thinking block's `signature` (its
//! `signature_delta` event, or the `signature` field of a whole message's block), which
//! Anthropic requires back, unchanged, with the thinking block when the same assistant turn
//! is sent again (with tool results); a `redacted_thinking` block's encrypted `data`; and a
//! text block's citations (`citations_delta`). Sending such blocks back works because
//! messages already in Anthropic's shape pass through the request untouched.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::delta::{ChoiceDelta, Delta, DeltaError, FunctionDelta, ToolCallDelta, Usage};
use super::read::Read;
use crate::error::ApiError;

/// One stream event, by its `type`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[serde(expecting = "an Anthropic stream event")]
enum Event {
    MessageStart {
        message: Message,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop,
    MessageDelta {
        delta: MessageDelta,
        usage: Option<RawUsage>,
    },
    MessageStop,
    Ping,
    Error,
    /// Event types added later are delivered and otherwise ignored.
    #[serde(other)]
    Unknown,
}

/// A message: `message_start`'s, or a whole non-streamed answer.
#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    model: Option<String>,
    role: Option<String>,
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Option<Value>,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Thinking the safety systems encrypted: no text to show; its `data` is kept in the
    /// chunk's raw data, to be sent back as given.
    RedactedThinking,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    /// The end of a thinking block: its signature, kept in the chunk's raw data.
    SignatureDelta,
    /// A citation of the text block: kept in the chunk's raw data only.
    CitationsDelta,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

/// Anthropic's counts: `input_tokens`, `output_tokens`, and the cache counts kept in
/// [`Usage::extra`].
#[derive(Deserialize)]
struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// What a stream has said so far that later events do not repeat: the message's id and
/// model, and its input tokens (`message_delta` gives only the output count).
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    id: Option<Arc<str>>,
    model: Option<Arc<str>>,
    usage: Option<Usage>,
    /// The indexes of the `tool_use` blocks begun: `input_json_delta`s of other blocks
    /// (a server tool's) are not a tool call of ours.
    tool_blocks: Vec<u32>,
}

impl StreamState {
    /// Reads one event's `data`.
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        let event: Event = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
        let mut choice = ChoiceDelta::default();
        let mut usage = None;
        let mut error = None;
        match event {
            Event::MessageStart { message } => {
                self.id = message.id.map(Arc::from);
                self.model = message.model.map(Arc::from);
                choice.role = message.role;
                // A message_start could carry content already; read it like a whole one.
                for (i, block) in message.content.into_iter().enumerate() {
                    let index = u32::try_from(i).unwrap_or(u32::MAX);
                    if matches!(block, Block::ToolUse { .. }) {
                        self.tool_blocks.push(index);
                    }
                    block_start(&mut choice, index, block);
                }
                if let Some(u) = message.usage {
                    usage = Some(self.add_usage(u));
                }
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                if matches!(content_block, Block::ToolUse { .. }) {
                    self.tool_blocks.push(index);
                }
                block_start(&mut choice, index, content_block);
            }
            Event::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => choice.content = Some(text),
                BlockDelta::ThinkingDelta { thinking } => choice.reasoning = Some(thinking),
                BlockDelta::InputJsonDelta { partial_json }
                    if self.tool_blocks.contains(&index) =>
                {
                    choice
                        .tool_calls
                        .push(tool_call(index, None, None, Some(partial_json)));
                }
                BlockDelta::InputJsonDelta { .. }
                | BlockDelta::SignatureDelta
                | BlockDelta::CitationsDelta
                | BlockDelta::Other => {}
            },
            Event::MessageDelta { delta, usage: u } => {
                choice.finish_reason = delta.stop_reason.map(finish_reason);
                if let Some(u) = u {
                    usage = Some(self.add_usage(u));
                }
            }
            Event::MessageStop => return Ok(Read::Stop),
            Event::Error => error = Some(Box::new(ApiError::of_event(data))),
            Event::ContentBlockStop | Event::Ping | Event::Unknown => {}
        }
        let empty = choice == ChoiceDelta::default();
        Ok(Read::Delta(Delta {
            id: self.id.clone(),
            model: self.model.clone(),
            choices: if empty { Vec::new() } else { vec![choice] },
            usage,
            error,
        }))
    }

    /// Adds counts to those so far (a later count replaces an earlier one).
    fn add_usage(&mut self, u: RawUsage) -> Usage {
        let mut usage = self.usage.take().unwrap_or_default();
        if let Some(n) = u.input_tokens {
            usage.prompt_tokens = n;
        }
        if let Some(n) = u.output_tokens {
            usage.completion_tokens = n;
        }
        usage.total_tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
        for (k, v) in u.extra {
            if !v.is_null() {
                usage.extra.insert(k, v);
            }
        }
        self.usage = Some(usage.clone());
        usage
    }
}

/// A whole (non-streamed) message, or an error object answered with 200, as one delta.
pub(crate) fn parse_message(data: &str) -> Result<Delta, DeltaError> {
    let v: Value = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Ok(Delta {
            error: Some(Box::new(ApiError::of_event(data))),
            ..Delta::default()
        });
    }
    let message: Message = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
    let mut state = StreamState::default();
    let mut choice = ChoiceDelta {
        role: message.role,
        finish_reason: message.stop_reason.map(finish_reason),
        ..ChoiceDelta::default()
    };
    for (i, block) in message.content.into_iter().enumerate() {
        block_start(&mut choice, u32::try_from(i).unwrap_or(u32::MAX), block);
    }
    Ok(Delta {
        id: message.id.map(Arc::from),
        model: message.model.map(Arc::from),
        usage: message.usage.map(|u| state.add_usage(u)),
        choices: vec![choice],
        error: None,
    })
}

/// A content block begun (or given whole): its text, reasoning or tool call.
fn block_start(choice: &mut ChoiceDelta, index: u32, block: Block) {
    match block {
        Block::Text { text } if !text.is_empty() => push(&mut choice.content, &text),
        Block::Thinking { thinking } if !thinking.is_empty() => {
            push(&mut choice.reasoning, &thinking);
        }
        Block::ToolUse { id, name, input } => {
            // Streamed, the input starts as `{}` and comes in `input_json_delta`s; whole,
            // it is the arguments.
            let arguments = input
                .filter(|i| i.as_object().is_none_or(|o| !o.is_empty()))
                .map(|i| i.to_string());
            choice
                .tool_calls
                .push(tool_call(index, Some(id), Some(name), arguments));
        }
        Block::Text { .. } | Block::Thinking { .. } | Block::RedactedThinking | Block::Other => {}
    }
}

fn push(to: &mut Option<String>, text: &str) {
    to.get_or_insert_with(String::new).push_str(text);
}

fn tool_call(
    index: u32,
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
) -> ToolCallDelta {
    ToolCallDelta {
        index,
        indexed: true,
        id,
        function: Some(FunctionDelta { name, arguments }),
    }
}

/// Anthropic's stop reasons in Chat Completions' words: `end_turn` and `stop_sequence`
/// are `stop`, `max_tokens` `length`, `tool_use` `tool_calls`, and `refusal` (the model
/// declined, for safety) `content_filter`. Others — `pause_turn` (a server tool's long
/// turn paused; send the answer back to go on), `model_context_window_exceeded`, any new
/// one — as given, so they read as [`FinishReason::Other`](super::FinishReason::Other).
fn finish_reason(reason: String) -> String {
    match reason.as_str() {
        "end_turn" | "stop_sequence" => "stop".to_owned(),
        "max_tokens" => "length".to_owned(),
        "tool_use" => "tool_calls".to_owned(),
        "refusal" => "content_filter".to_owned(),
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(state: &mut StreamState, data: &str) -> Delta {
        state.read(data).unwrap().delta()
    }

    #[test]
    fn events_read_as_deltas() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        );
        assert_eq!(d.id.as_deref(), Some("msg_1"));
        assert_eq!(d.usage.as_ref().unwrap().prompt_tokens, 25);
        let d = read(
            &mut s,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        );
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
        assert_eq!(d.id.as_deref(), Some("msg_1"));
        let d = read(
            &mut s,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        );
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some("length"));
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (25, 15, 40)
        );
        assert!(read(&mut s, r#"{"type":"ping"}"#).choices.is_empty());
        let server_tool = r#"{"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#;
        assert!(read(&mut s, server_tool).choices.is_empty());
        let its_input = r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\":"}}"#;
        assert!(
            read(&mut s, its_input).choices.is_empty(),
            "not our tool call"
        );
        assert!(
            read(&mut s, r#"{"type":"something_new","x":1}"#)
                .choices
                .is_empty()
        );
        assert!(matches!(
            s.read(r#"{"type":"message_stop"}"#),
            Ok(Read::Stop)
        ));
        let d = read(
            &mut s,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        let e = d.error.unwrap();
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("overloaded_error", "Overloaded")
        );
    }

    #[test]
    fn bad_events_are_errors_not_panics() {
        let mut s = StreamState::default();
        for bad in [
            "{not json",
            r#"{"no":"type"}"#,
            r#"{"type":"content_block_delta","index":"x","delta":{}}"#,
            r#"{"type":"content_block_start","index":0}"#,
            "[]",
        ] {
            assert!(s.read(bad).is_err(), "{bad}");
        }
        assert!(parse_message("{").is_err());
        assert!(parse_message(r#"{"content":5}"#).is_err());
    }

    #[test]
    fn a_whole_message_reads_as_one_delta() {
        let d = parse_message(
            r#"{"id":"msg_2","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":20}}"#,
        )
        .unwrap();
        let c = &d.choices[0];
        assert_eq!(c.content.as_deref(), Some("Let me check."));
        assert_eq!(c.reasoning.as_deref(), Some("hm"));
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        let t = &c.tool_calls[0];
        assert_eq!((t.index, t.id.as_deref()), (2, Some("toolu_1")));
        let f = t.function.as_ref().unwrap();
        assert_eq!(f.arguments.as_deref(), Some(r#"{"city":"Paris"}"#));
        assert_eq!(d.usage.unwrap().total_tokens, 30);
        let d = parse_message(r#"{"type":"error","error":{"type":"api_error","message":"x"}}"#)
            .unwrap();
        assert_eq!(d.error.unwrap().kind, "api_error");
    }

    #[test]
    fn signatures_redacted_thinking_and_citations_read_without_text() {
        let mut s = StreamState::default();
        for quiet in [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"The grass is green.","document_index":0,"document_title":"Facts","start_char_index":0,"end_char_index":20}}}"#,
        ] {
            let d = read(&mut s, quiet);
            assert!(d.choices.is_empty() && d.error.is_none(), "{quiet}");
        }
        let d = parse_message(
            r#"{"id":"msg_3","type":"message","role":"assistant","model":"claude","content":[{"type":"redacted_thinking","data":"EmwK"},{"type":"text","text":"Green.","citations":[{"type":"char_location","cited_text":"The grass is green.","document_index":0,"start_char_index":0,"end_char_index":20}]}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(d.choices[0].content.as_deref(), Some("Green."));
        assert_eq!(d.choices[0].reasoning, None);
    }

    #[test]
    fn stop_reasons_in_chat_completions_words() {
        use crate::chat::FinishReason;
        for (given, want, reads) in [
            ("end_turn", "stop", FinishReason::Stop),
            ("stop_sequence", "stop", FinishReason::Stop),
            ("max_tokens", "length", FinishReason::Length),
            ("tool_use", "tool_calls", FinishReason::ToolCalls),
            ("refusal", "content_filter", FinishReason::ContentFilter),
            (
                "pause_turn",
                "pause_turn",
                FinishReason::Other("pause_turn".into()),
            ),
            (
                "model_context_window_exceeded",
                "model_context_window_exceeded",
                FinishReason::Other("model_context_window_exceeded".into()),
            ),
        ] {
            let mut s = StreamState::default();
            let event = format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"{given}","stop_sequence":null}},"usage":{{"output_tokens":3}}}}"#
            );
            let d = read(&mut s, &event);
            let got = d.choices[0].finish_reason.as_deref().unwrap();
            assert_eq!(got, want, "{given}");
            assert_eq!(FinishReason::parse(got), reads, "{given}");
        }
    }
}
