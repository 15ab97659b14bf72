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
use super::fast_path;
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
        match fast_path::responses_text(data) {
            Some(choice) => Ok(Read::Delta(self.delta(choice, None, None))),
            None => self.read_with_serde(data),
        }
    }

    /// [`read`](Self::read) without its fast path.
    pub(super) fn read_with_serde(&mut self, data: &str) -> Result<Read, DeltaError> {
        let event: Event = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
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
        let delta = self.delta(choice, usage, error);
        Ok(if last {
            Read::Last(delta)
        } else {
            Read::Delta(delta)
        })
    }

    /// A delta of this stream's names and `choice` (none when it adds nothing).
    fn delta(
        &self,
        choice: ChoiceDelta,
        usage: Option<Usage>,
        error: Option<Box<ApiError>>,
    ) -> Delta {
        let empty = choice == ChoiceDelta::default();
        Delta {
            id: self.id.clone(),
            model: self.model.clone(),
            choices: if empty { Vec::new() } else { vec![choice] },
            usage,
            error,
        }
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
    let v: Value = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
    if v.get("output").is_none() && v.get("error").is_some_and(Value::is_object) {
        let error = ApiError::from_body(data).unwrap_or_default();
        return Ok(Delta {
            error: Some(Box::new(error)),
            ..Delta::default()
        });
    }
    let mut response: Response =
        serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
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
#[path = "responses_tests.rs"]
mod tests;
