//! OpenAI's Responses API: its typed `response.*` stream events, and its whole
//! `Response` object, read as the same [`Delta`]s as Chat Completions chunks, so that
//! accumulation, `Chunk::text`, relaying and callbacks work unchanged.
//!
//! As OpenAI documents the stream (`ResponseStreamEvent`): `response.created` and
//! `response.in_progress` carry the response's id and model; `response.output_item.added`
//! begins an output item (a `message`, a `function_call` with its `call_id` and `name`, a
//! `reasoning` item); `response.output_text.delta`, `response.refusal.delta`,
//! `response.reasoning_summary_text.delta`, `response.reasoning_text.delta` and
//! `response.function_call_arguments.delta` add text; the `*.done` events repeat what the
//! deltas said and are delivered without adding anything; the stream ends with
//! `response.completed` (usage), `response.incomplete` (why) or `response.failed`
//! (its error), and has no `[DONE]`. An `error` event ends the request with its error.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::delta::{ChoiceDelta, Delta, DeltaError, FunctionDelta, ToolCallDelta, Usage};
use super::read::Read;
use crate::error::ApiError;

/// One stream event, by its `type`.
#[derive(Deserialize)]
#[serde(tag = "type")]
#[serde(expecting = "a Responses API stream event")]
enum Event {
    #[serde(rename = "response.created", alias = "response.in_progress")]
    Created { response: Response },
    #[serde(rename = "response.output_item.added")]
    ItemAdded { output_index: u32, item: Item },
    #[serde(rename = "response.output_text.delta")]
    TextDelta { delta: String },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta { delta: String },
    #[serde(
        rename = "response.reasoning_summary_text.delta",
        alias = "response.reasoning_text.delta"
    )]
    ReasoningDelta { delta: String },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta { output_index: u32, delta: String },
    #[serde(rename = "response.completed", alias = "response.incomplete")]
    Finished { response: Response },
    #[serde(rename = "response.failed")]
    Failed { response: Response },
    #[serde(rename = "error")]
    Error {
        code: Option<String>,
        #[serde(default)]
        message: String,
        param: Option<String>,
    },
    /// Event types added later, and the `*.done` ones, are delivered and otherwise ignored.
    #[serde(other)]
    Unknown,
}

/// A `Response` object: the first and last events', or a whole non-streamed answer.
#[derive(Deserialize)]
#[serde(expecting = "a Responses API response object")]
struct Response {
    id: Option<String>,
    model: Option<String>,
    status: Option<String>,
    #[serde(default)]
    output: Vec<Item>,
    usage: Option<RawUsage>,
    incomplete_details: Option<Incomplete>,
    error: Option<RawError>,
}

#[derive(Deserialize)]
struct Incomplete {
    reason: Option<String>,
}

/// `{code, message}`, as `Response.error` has it.
#[derive(Deserialize)]
struct RawError {
    code: Option<String>,
    #[serde(default)]
    message: String,
}

/// An output item.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item {
    Message {
        role: Option<String>,
        #[serde(default)]
        content: Vec<Part>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
    },
    Reasoning {
        #[serde(default)]
        summary: Vec<Part>,
        #[serde(default)]
        content: Vec<Part>,
    },
    #[serde(other)]
    Other,
}

/// A content part of a message or a reasoning item.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part {
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    SummaryText {
        text: String,
    },
    ReasoningText {
        text: String,
    },
    #[serde(other)]
    Other,
}

/// The Responses API's counts: `input_tokens`, `output_tokens`, `total_tokens`, and the
/// detail objects (`input_tokens_details.cached_tokens`,
/// `output_tokens_details.reasoning_tokens`) kept in [`Usage::extra`].
#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    total_tokens: Option<u64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        let mut usage = Usage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u
                .total_tokens
                .unwrap_or(u.input_tokens.saturating_add(u.output_tokens)),
            ..Usage::default()
        };
        usage.extra = u.extra.into_iter().filter(|(_, v)| !v.is_null()).collect();
        usage
    }
}

/// What a stream has said so far that later events do not repeat: the response's id and
/// model, and its function calls' output indexes (a call's tool-call index is its place
/// among them: 0 for the first function call, whatever items come before it).
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    id: Option<Arc<str>>,
    model: Option<Arc<str>>,
    calls: Vec<u32>,
}

impl StreamState {
    /// Reads one event's `data`.
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        let event: Event =
            serde_json::from_str(data).map_err(|e| DeltaError::of::<Event>(data, &e))?;
        let mut choice = ChoiceDelta::default();
        let mut usage = None;
        let mut error = None;
        let mut last = false;
        match event {
            Event::Created { response } => self.name(response.id, response.model),
            Event::ItemAdded { output_index, item } => match item {
                Item::Message { role, content } => {
                    choice.role = role;
                    content.into_iter().for_each(|p| add_part(&mut choice, p));
                }
                Item::FunctionCall {
                    call_id,
                    name,
                    arguments,
                } => {
                    let index = self.call_index(output_index);
                    let arguments = Some(arguments).filter(|a| !a.is_empty());
                    choice
                        .tool_calls
                        .push(tool_call(index, Some(call_id), Some(name), arguments));
                }
                Item::Reasoning { .. } | Item::Other => {}
            },
            Event::TextDelta { delta } => choice.content = Some(delta),
            Event::RefusalDelta { delta } => choice.refusal = Some(delta),
            Event::ReasoningDelta { delta } => choice.reasoning = Some(delta),
            Event::ArgumentsDelta {
                output_index,
                delta,
            } => {
                // Arguments of an item that is not one of our function calls are not ours.
                if let Some(index) = self.calls.iter().position(|&i| i == output_index) {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    choice
                        .tool_calls
                        .push(tool_call(index, None, None, Some(delta)));
                }
            }
            Event::Finished { response } => {
                self.name(response.id.clone(), response.model.clone());
                let called = !self.calls.is_empty()
                    || response
                        .output
                        .iter()
                        .any(|i| matches!(i, Item::FunctionCall { .. }));
                choice.finish_reason = finish_reason(&response, called);
                usage = response.usage.map(Usage::from);
                last = true;
            }
            Event::Failed { response } => {
                self.name(response.id.clone(), response.model.clone());
                error = Some(Box::new(failure(response.error)));
            }
            Event::Error {
                code,
                message,
                param,
            } => {
                error = Some(Box::new(ApiError {
                    code,
                    message,
                    param,
                    ..ApiError::default()
                }));
            }
            Event::Unknown => {}
        }
        let empty = choice == ChoiceDelta::default();
        let delta = Delta {
            id: self.id.clone(),
            model: self.model.clone(),
            choices: if empty { Vec::new() } else { vec![choice] },
            usage,
            error,
        };
        Ok(if last {
            Read::Last(delta)
        } else {
            Read::Delta(delta)
        })
    }

    fn name(&mut self, id: Option<String>, model: Option<String>) {
        if let Some(id) = id {
            self.id = Some(Arc::from(id));
        }
        if let Some(model) = model {
            self.model = Some(Arc::from(model));
        }
    }

    /// The tool-call index of the function call at `output_index`.
    fn call_index(&mut self, output_index: u32) -> u32 {
        let at = match self.calls.iter().position(|&i| i == output_index) {
            Some(at) => at,
            None => {
                self.calls.push(output_index);
                self.calls.len() - 1
            }
        };
        u32::try_from(at).unwrap_or(u32::MAX)
    }
}

/// A whole (non-streamed) `Response` as one delta; a failed one, or an error object
/// answered with 200, as a delta with `error` set.
pub(crate) fn parse_message(data: &str) -> Result<Delta, DeltaError> {
    let v: Value = serde_json::from_str(data).map_err(|e| DeltaError::of::<Value>(data, &e))?;
    if v.get("output").is_none() && v.get("error").is_some_and(Value::is_object) {
        let error = ApiError::from_body(data).unwrap_or_default();
        return Ok(Delta {
            error: Some(Box::new(error)),
            ..Delta::default()
        });
    }
    let mut response: Response =
        serde_json::from_value(v).map_err(|e| DeltaError::of::<Response>(data, &e))?;
    let mut choice = ChoiceDelta::default();
    let mut calls = 0u32;
    for item in std::mem::take(&mut response.output) {
        match item {
            Item::Message { role, content } => {
                choice.role = choice.role.or(role);
                content.into_iter().for_each(|p| add_part(&mut choice, p));
            }
            Item::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let call = tool_call(calls, Some(call_id), Some(name), Some(arguments));
                choice.tool_calls.push(call);
                calls += 1;
            }
            Item::Reasoning { summary, content } => {
                // The summary when given, else the reasoning text itself.
                let parts = if summary.is_empty() { content } else { summary };
                parts.into_iter().for_each(|p| add_part(&mut choice, p));
            }
            Item::Other => {}
        }
    }
    let failed = response.status.as_deref() == Some("failed");
    let error = if failed {
        Some(Box::new(failure(response.error)))
    } else {
        choice.finish_reason = finish_reason(&response, calls > 0);
        None
    };
    Ok(Delta {
        id: response.id.map(Arc::from),
        model: response.model.map(Arc::from),
        choices: vec![choice],
        usage: response.usage.map(Usage::from),
        error,
    })
}

/// A content part's text, where it belongs: output text as content, a refusal as refusal,
/// summary or reasoning text as reasoning.
fn add_part(choice: &mut ChoiceDelta, part: Part) {
    let (to, text) = match part {
        Part::OutputText { text } => (&mut choice.content, text),
        Part::Refusal { refusal } => (&mut choice.refusal, refusal),
        Part::SummaryText { text } | Part::ReasoningText { text } => (&mut choice.reasoning, text),
        Part::Other => return,
    };
    if !text.is_empty() {
        to.get_or_insert_with(String::new).push_str(&text);
    }
}

/// Why the response ended, in Chat Completions' words: `stop` (or `tool_calls` when it
/// called a function) when complete; for an incomplete one its
/// `incomplete_details.reason`, `max_output_tokens` as `length`, others as given.
fn finish_reason(response: &Response, called: bool) -> Option<String> {
    let incomplete =
        response.status.as_deref() == Some("incomplete") || response.incomplete_details.is_some();
    if !incomplete {
        return Some(if called { "tool_calls" } else { "stop" }.to_owned());
    }
    let reason = response.incomplete_details.as_ref()?.reason.clone()?;
    Some(match reason.as_str() {
        "max_output_tokens" => "length".to_owned(),
        _ => reason,
    })
}

/// A failed response's `error`.
#[cold]
fn failure(error: Option<RawError>) -> ApiError {
    let error = error.unwrap_or(RawError {
        code: None,
        message: "the response failed".to_owned(),
    });
    ApiError {
        code: error.code,
        message: error.message,
        ..ApiError::default()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(state: &mut StreamState, data: &str) -> Delta {
        state.read(data).unwrap().delta()
    }

    #[test]
    fn text_events_read_as_deltas_and_completed_is_the_last() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-4.1","output":[],"usage":null}}"#,
        );
        assert_eq!(d.id.as_deref(), Some("resp_1"));
        assert!(d.choices.is_empty());
        let d = read(
            &mut s,
            r#"{"type":"response.output_item.added","output_index":0,"sequence_number":2,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
        );
        assert_eq!(d.choices[0].role.as_deref(), Some("assistant"));
        let d = read(
            &mut s,
            r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4,"logprobs":[]}"#,
        );
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
        assert_eq!(d.model.as_deref(), Some("gpt-4.1"));
        let done = r#"{"type":"response.output_text.done","item_id":"msg_1","output_index":0,"content_index":0,"text":"Hi","sequence_number":5,"logprobs":[]}"#;
        assert!(read(&mut s, done).choices.is_empty(), "no doubled text");
        let d = read(
            &mut s,
            r#"{"type":"response.refusal.delta","item_id":"msg_1","output_index":0,"content_index":1,"delta":"No.","sequence_number":6}"#,
        );
        assert_eq!(d.choices[0].refusal.as_deref(), Some("No."));
        for kind in [
            "response.reasoning_summary_text.delta",
            "response.reasoning_text.delta",
        ] {
            let e = format!(
                r#"{{"type":"{kind}","item_id":"rs_1","output_index":0,"summary_index":0,"content_index":0,"delta":"hm","sequence_number":7}}"#
            );
            let d = read(&mut s, &e);
            assert_eq!(d.choices[0].reasoning.as_deref(), Some("hm"), "{kind}");
            assert!(d.choices[0].content.is_none());
        }
        let Read::Last(d) = s
            .read(r#"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","status":"completed","model":"gpt-4.1","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":16},"total_tokens":123}}}"#)
            .unwrap()
        else {
            panic!("completed is the last event");
        };
        let c = &d.choices[0];
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        assert!(c.content.is_none(), "the output is not read again");
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (36, 87, 123)
        );
        assert_eq!(
            (u.cached_tokens(), u.reasoning_tokens()),
            (Some(4), Some(16))
        );
    }

    #[test]
    fn function_calls_are_indexed_in_order_and_finish_as_tool_calls() {
        let mut s = StreamState::default();
        read(
            &mut s,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
        );
        let d = read(
            &mut s,
            r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"","status":"in_progress"}}"#,
        );
        let t = &d.choices[0].tool_calls[0];
        assert_eq!((t.index, t.id.as_deref()), (0, Some("call_a")));
        let f = t.function.as_ref().unwrap();
        assert_eq!(
            (f.name.as_deref(), f.arguments.as_deref()),
            (Some("get_weather"), None)
        );
        let d = read(
            &mut s,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"{\"city\":"}"#,
        );
        let t = &d.choices[0].tool_calls[0];
        assert_eq!((t.index, t.id.as_deref()), (0, None));
        assert_eq!(
            t.function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"city\":")
        );
        read(
            &mut s,
            r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","call_id":"call_b","name":"get_time","arguments":""}}"#,
        );
        let d = read(
            &mut s,
            r#"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"{}"}"#,
        );
        assert_eq!(d.choices[0].tool_calls[0].index, 1);
        let stray =
            r#"{"type":"response.function_call_arguments.delta","output_index":7,"delta":"x"}"#;
        assert!(read(&mut s, stray).choices.is_empty(), "not a call of ours");
        let done =
            r#"{"type":"response.function_call_arguments.done","output_index":2,"arguments":"{}"}"#;
        assert!(read(&mut s, done).choices.is_empty());
        let Ok(Read::Last(d)) = s.read(
            r#"{"type":"response.completed","response":{"id":"resp_2","status":"completed","output":[],"usage":{"input_tokens":5,"output_tokens":7}}}"#,
        ) else {
            panic!("the end");
        };
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(d.usage.unwrap().total_tokens, 12, "summed when not given");
    }

    #[test]
    fn incomplete_failed_and_error_events() {
        for (reason, want) in [
            ("max_output_tokens", "length"),
            ("content_filter", "content_filter"),
        ] {
            let mut s = StreamState::default();
            let e = format!(
                r#"{{"type":"response.incomplete","response":{{"id":"r","status":"incomplete","incomplete_details":{{"reason":"{reason}"}},"output":[],"usage":null}}}}"#
            );
            let Ok(Read::Last(d)) = s.read(&e) else {
                panic!("incomplete is the last event");
            };
            assert_eq!(d.choices[0].finish_reason.as_deref(), Some(want));
            assert!(d.usage.is_none());
        }
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"type":"response.failed","response":{"id":"resp_3","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"output":[]}}"#,
        );
        let e = d.error.unwrap();
        assert_eq!(e.code.as_deref(), Some("server_error"));
        assert_eq!(e.message, "The model failed to generate a response.");
        assert_eq!(d.id.as_deref(), Some("resp_3"));
        let d = read(
            &mut s,
            r#"{"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}"#,
        );
        let e = d.error.unwrap();
        assert_eq!(
            (e.code.as_deref(), e.message.as_str()),
            (Some("ERR_SOMETHING"), "Something went wrong")
        );
    }

    #[test]
    fn bad_events_are_errors_not_panics() {
        let mut s = StreamState::default();
        for bad in [
            "{not json",
            r#"{"no":"type"}"#,
            r#"{"type":"response.output_text.delta","delta":5}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":"x","delta":""}"#,
            r#"{"type":"response.output_item.added","output_index":0}"#,
            r#"{"type":"response.completed"}"#,
            "[]",
        ] {
            assert!(s.read(bad).is_err(), "{bad}");
        }
        let Err(e) = s.read(r#"{"type":"response.output_text.delta"}"#) else {
            panic!("no delta");
        };
        assert!(e.to_string().contains("delta"), "{e}");
        assert!(parse_message("{").is_err());
        assert!(parse_message(r#"{"output":5}"#).is_err());
    }

    #[test]
    fn a_whole_response_reads_as_one_delta() {
        let d = parse_message(
            r#"{"id":"resp_4","object":"response","status":"completed","model":"gpt-4.1","output":[
                {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Thinking."}]},
                {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},
                {"type":"function_call","id":"fc_1","call_id":"call_9","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}
            ],"error":null,"incomplete_details":null,"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}"#,
        )
        .unwrap();
        let c = &d.choices[0];
        assert_eq!(c.content.as_deref(), Some("Let me check."));
        assert_eq!(c.reasoning.as_deref(), Some("Thinking."));
        assert_eq!(c.role.as_deref(), Some("assistant"));
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        let t = &c.tool_calls[0];
        assert_eq!((t.index, t.id.as_deref()), (0, Some("call_9")));
        let f = t.function.as_ref().unwrap();
        assert_eq!(f.arguments.as_deref(), Some(r#"{"city":"Paris"}"#));
        assert_eq!(d.usage.unwrap().total_tokens, 30);
        assert!(d.error.is_none());
        let failed = parse_message(
            r#"{"id":"r","status":"failed","output":[],"error":{"code":"server_error","message":"boom"}}"#,
        )
        .unwrap();
        assert_eq!(failed.error.unwrap().message, "boom");
        let body = parse_message(r#"{"error":{"type":"server_error","message":"x"}}"#).unwrap();
        assert_eq!(body.error.unwrap().kind, "server_error");
    }
}
