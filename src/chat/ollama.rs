//! Ollama's native chat API (`POST /api/chat`): its newline-delimited JSON objects read
//! as the same [`Delta`]s as Chat Completions chunks.
//!
//! Ollama documents (docs/api.md in the ollama/ollama repository) one object per line,
//! `{"model","created_at","message":{"role","content","thinking"?,"tool_calls"?},"done":false}`,
//! and a last one with `"done": true`, the `done_reason`, `prompt_eval_count` (prompt
//! tokens), `eval_count` (generated tokens) and durations in nanoseconds. A failure
//! after the answer began is a line `{"error":"…"}`. Tool calls come whole, their
//! `arguments` an object rather than a JSON string, and in the documented examples
//! without an id (one given is kept; otherwise `call_N` is made up, N the call's index).

use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::delta::{ChoiceDelta, Delta, DeltaError, FunctionDelta, ToolCallDelta, Usage};
use super::read::Read;
use crate::error::ApiError;

/// One line: a piece of the answer, its last line, or an error.
#[derive(Deserialize)]
#[serde(expecting = "an Ollama chat object")]
struct Line {
    model: Option<String>,
    message: Option<Message>,
    /// `None` only on an error line: a line with neither is not Ollama's.
    done: Option<bool>,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_duration: Option<u64>,
    /// Only whether there is one: the error is read again from the text.
    error: Option<IgnoredAny>,
}

/// What a line that is not an error must have: read only to describe a line without
/// `done`.
#[derive(Deserialize)]
#[serde(expecting = "an Ollama chat object with `done`")]
#[allow(dead_code)]
struct Required {
    done: bool,
}

#[derive(Deserialize)]
struct Message {
    role: Option<String>,
    content: Option<String>,
    thinking: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ToolCall {
    /// Given by newer versions; made up (`call_N`) when absent.
    id: Option<String>,
    function: Function,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    /// An object as Ollama sends it (a string, as some proxies send it, is kept).
    arguments: Option<Value>,
}

/// What a stream has said so far that later lines need: the model (shared between
/// deltas), whether the role was given, and how many tool calls came (each gets the
/// next index). The stream ends at its `done: true` line ([`Read::Last`]), so a body
/// that ends before it was cut short.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    model: Option<Arc<str>>,
    role_given: bool,
    calls: u32,
}

impl StreamState {
    /// Reads one line: [`Read::Last`] for the `done: true` line.
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        let line: Line = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
        if line.error.is_some() {
            return Ok(Read::Delta(Delta {
                model: self.model.clone(),
                error: Some(Box::new(ApiError::of_event(data))),
                ..Delta::default()
            }));
        }
        let Some(done) = line.done else {
            return Err(missing_done(data));
        };
        if let Some(m) = line.model
            && self.model.as_deref() != Some(m.as_str())
        {
            self.model = Some(Arc::from(m));
        }
        let mut choice = ChoiceDelta::default();
        if let Some(message) = line.message {
            if !self.role_given {
                self.role_given = message.role.is_some();
                choice.role = message.role;
            }
            choice.content = message.content.filter(|c| !c.is_empty());
            choice.reasoning = message.thinking.filter(|t| !t.is_empty());
            for call in message.tool_calls {
                choice.tool_calls.push(self.tool_call(call));
            }
        }
        let usage = (line.prompt_eval_count.is_some() || line.eval_count.is_some()).then(|| {
            let prompt_tokens = line.prompt_eval_count.unwrap_or(0);
            let completion_tokens = line.eval_count.unwrap_or(0);
            let mut extra = Map::new();
            for (k, v) in [
                ("total_duration", line.total_duration),
                ("load_duration", line.load_duration),
                ("prompt_eval_duration", line.prompt_eval_duration),
                ("eval_duration", line.eval_duration),
            ] {
                if let Some(v) = v {
                    extra.insert(k.to_owned(), v.into());
                }
            }
            Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens.saturating_add(completion_tokens),
                extra,
            }
        });
        if done {
            choice.finish_reason = Some(self.finish_reason(line.done_reason));
        }
        let empty = choice == ChoiceDelta::default();
        let delta = Delta {
            id: None,
            model: self.model.clone(),
            choices: if empty { Vec::new() } else { vec![choice] },
            usage,
            error: None,
        };
        Ok(if done {
            Read::Last(delta)
        } else {
            Read::Delta(delta)
        })
    }

    /// A whole call, at the next index; its arguments object as a JSON string.
    fn tool_call(&mut self, call: ToolCall) -> ToolCallDelta {
        let index = self.calls;
        self.calls = self.calls.saturating_add(1);
        let arguments = match call.function.arguments {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
        };
        ToolCallDelta {
            index,
            indexed: true,
            id: Some(call.id.unwrap_or_else(|| format!("call_{index}"))),
            function: Some(FunctionDelta {
                name: Some(call.function.name),
                arguments: Some(arguments),
            }),
        }
    }

    /// Ollama's `done_reason` in Chat Completions' words: `stop` (or none, as the
    /// documented examples of older versions show) is `tool_calls` once calls came,
    /// `length` as is, others raw (`load`, `unload`).
    fn finish_reason(&self, reason: Option<String>) -> String {
        match reason.as_deref() {
            None | Some("stop") if self.calls > 0 => "tool_calls".to_owned(),
            None => "stop".to_owned(),
            Some(_) => reason.unwrap_or_default(),
        }
    }
}

/// Reads a whole (non-streamed) answer: one object with `done: true`, or an error.
pub(crate) fn parse_message(data: &str) -> Result<Delta, DeltaError> {
    match StreamState::default().read(data)? {
        Read::Delta(d) | Read::Last(d) => Ok(d),
        Read::Stop => Ok(Delta::default()),
    }
}

/// The error a line without `done` (and without `error`) is: what was missing, where.
#[cold]
fn missing_done(data: &str) -> DeltaError {
    match serde_json::from_str::<Required>(data) {
        Err(e) => DeltaError::new(data, &e),
        // Not reached: `done` was missing a moment ago.
        Ok(_) => {
            let e = <serde_json::Error as serde::de::Error>::missing_field("done");
            DeltaError::new(data, &e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(state: &mut StreamState, data: &str) -> Delta {
        state.read(data).unwrap().delta()
    }

    fn last(state: &mut StreamState, data: &str) -> Delta {
        match state.read(data).unwrap() {
            Read::Last(d) => d,
            Read::Delta(_) | Read::Stop => panic!("not the last line"),
        }
    }

    #[test]
    fn lines_read_as_deltas_and_the_done_line_ends() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"model":"qwen3","created_at":"2025-05-27T22:54:57.1Z","message":{"role":"assistant","content":"","thinking":"Hmm"},"done":false}"#,
        );
        let c = &d.choices[0];
        assert_eq!(c.role.as_deref(), Some("assistant"));
        assert_eq!(
            (c.content.as_deref(), c.reasoning.as_deref()),
            (None, Some("Hmm"))
        );
        assert_eq!(d.model.as_deref(), Some("qwen3"));
        let d = read(
            &mut s,
            r#"{"model":"qwen3","created_at":"2025-05-27T22:54:57.2Z","message":{"role":"assistant","content":"Hi"},"done":false}"#,
        );
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
        assert_eq!(d.choices[0].role, None, "the role once");
        let d = last(
            &mut s,
            r#"{"model":"qwen3","created_at":"2025-05-27T22:54:57.3Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":5,"load_duration":1,"prompt_eval_count":26,"prompt_eval_duration":2,"eval_count":282,"eval_duration":3}"#,
        );
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(d.choices[0].content, None);
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (26, 282, 308)
        );
        assert_eq!(u.extra["eval_duration"], 3);
        assert_eq!(u.extra.len(), 4);
    }

    #[test]
    fn tool_calls_come_whole_with_an_index_and_an_id_each() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"weather","arguments":{"city":"Paris"}}},{"id":"call_x","function":{"name":"time","arguments":"{\"tz\":\"CET\"}"}}]},"done":false}"#,
        );
        let calls = &d.choices[0].tool_calls;
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].index, calls[0].id.as_deref()),
            (0, Some("call_0"))
        );
        assert!(calls[0].indexed);
        let f = calls[0].function.as_ref().unwrap();
        assert_eq!(
            (f.name.as_deref(), f.arguments.as_deref()),
            (Some("weather"), Some(r#"{"city":"Paris"}"#))
        );
        assert_eq!(
            (calls[1].index, calls[1].id.as_deref()),
            (1, Some("call_x"))
        );
        let f = calls[1].function.as_ref().unwrap();
        assert_eq!(f.arguments.as_deref(), Some(r#"{"tz":"CET"}"#));
        let d = read(
            &mut s,
            r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"noop"}}]},"done":false}"#,
        );
        let t = &d.choices[0].tool_calls[0];
        assert_eq!(t.index, 2, "a new index per call");
        assert_eq!(
            t.function.as_ref().unwrap().arguments.as_deref(),
            Some("{}")
        );
        let d = last(&mut s, r#"{"model":"m","done":true,"done_reason":"stop"}"#);
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn stop_reasons_map_and_others_stay_raw() {
        for (line, want) in [
            (r#"{"done":true,"done_reason":"stop"}"#, "stop"),
            (r#"{"done":true}"#, "stop"),
            (r#"{"done":true,"done_reason":"unload"}"#, "unload"),
        ] {
            let d = last(&mut StreamState::default(), line);
            assert_eq!(d.choices[0].finish_reason.as_deref(), Some(want), "{line}");
            assert!(d.usage.is_none());
        }
    }

    #[test]
    fn an_error_line_is_an_error_delta() {
        let mut s = StreamState::default();
        read(
            &mut s,
            r#"{"model":"m","message":{"role":"assistant","content":"a"},"done":false}"#,
        );
        let d = read(
            &mut s,
            r#"{"error":"an error was encountered while running the model"}"#,
        );
        let e = d.error.unwrap();
        assert_eq!(
            e.message,
            "an error was encountered while running the model"
        );
        assert!(d.choices.is_empty());
    }

    #[test]
    fn bad_lines_are_errors_naming_what_is_wrong() {
        let mut s = StreamState::default();
        for (bad, names) in [
            ("{not json", "key must be a string"),
            ("[]", "an Ollama chat object"),
            (r#"{"model":"m"}"#, "done"),
            (r#"{"done":"yes"}"#, "done"),
            (
                r#"{"done":false,"message":{"content":5}}"#,
                "message.content",
            ),
            (
                r#"{"done":false,"message":{"tool_calls":[{"function":{}}]}}"#,
                "name",
            ),
            (r#"{"done":true,"eval_count":-1}"#, "eval_count"),
        ] {
            let e = s.read(bad).err().unwrap_or_else(|| panic!("{bad} read"));
            assert!(e.to_string().contains(names), "{bad}: {e}");
        }
    }

    #[test]
    fn a_whole_answer_reads_as_one_delta() {
        let d = parse_message(
            r#"{"model":"llama3.2","created_at":"2024-07-22T20:33:28.123648Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}}]},"done_reason":"stop","done":true,"total_duration":885095291,"load_duration":3753500,"prompt_eval_count":122,"prompt_eval_duration":328493000,"eval_count":33,"eval_duration":552222000}"#,
        )
        .unwrap();
        let c = &d.choices[0];
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        let f = c.tool_calls[0].function.as_ref().unwrap();
        assert_eq!(
            f.arguments.as_deref(),
            Some(r#"{"format":"celsius","location":"Paris, FR"}"#)
        );
        assert_eq!(d.usage.unwrap().total_tokens, 155);
        let d =
            parse_message(r#"{"error":"model \"x\" not found, try pulling it first"}"#).unwrap();
        assert!(
            d.error
                .unwrap()
                .message
                .starts_with("model \"x\" not found")
        );
        assert!(parse_message("{").is_err());
    }
}
