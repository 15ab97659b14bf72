//! The events of one simulated response, planned ahead with their send times: the
//! response's output items one after another (messages, function calls, MCP approval
//! requests and calls), each with the
//! events the API streams for its kind; `conversation.item.*` events only for a response
//! in the default conversation.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::options::Pace;
use super::usage::{audio_tokens, text_tokens, usage};
use super::voice::{self, Format, Samples};

/// Audio per `response.output_audio.delta`.
const CHUNK_MS: u64 = 100;
/// Time between text deltas at real-time pace.
const WORD_MS: u64 = 30;

/// How a response speaks.
pub(crate) struct Plan<'a> {
    pub(crate) response_id: &'a str,
    /// `None` for an out-of-band response: its items stay out of the conversation.
    pub(crate) conversation_id: Option<&'a str>,
    /// The request's `metadata`, echoed.
    pub(crate) metadata: &'a Value,
    pub(crate) audio: bool,
    pub(crate) pace: Pace,
    pub(crate) format: Format,
}

/// One output item of a response, with its id.
pub(crate) struct Output {
    pub(crate) item_id: String,
    pub(crate) kind: Kind,
}

/// What an output item is.
pub(crate) enum Kind {
    /// A message, spoken or written as the plan says.
    Message { text: String },
    /// A call of a function; `arguments` are sent as they are, valid JSON or not.
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A request for the client's approval of an MCP tool call.
    ApprovalRequest {
        server_label: String,
        name: String,
        arguments: String,
    },
    /// An MCP tool call the server made, with its output.
    McpCall {
        server_label: String,
        name: String,
        arguments: String,
        approval_request_id: Option<String>,
        output: String,
    },
}

/// A planned event: its send time and the event (without `event_id`).
pub(crate) type Timed = (Duration, Event);

/// A planned event, as small as it can wait: a long reply plans hundreds of audio deltas.
pub(crate) enum Event {
    Json(Value),
    /// An audio delta: the fields it shares with every delta of its item (one copy for
    /// them all), and its audio, encoded as base64 only when it is sent.
    Audio(Arc<Value>, Samples),
}

impl Event {
    /// The event as it goes out.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Event::Json(v) => v,
            Event::Audio(head, audio) => {
                let mut event = Arc::unwrap_or_clone(head);
                event["delta"] = Value::String(audio.base64());
                event
            }
        }
    }

    /// The event, unless it is an audio delta (whose audio is not encoded yet).
    pub(crate) fn json(&self) -> Option<&Value> {
        match self {
            Event::Json(v) => Some(v),
            Event::Audio(..) => None,
        }
    }
}

/// A planned response: its events with their send times, and the tokens it uses. Its
/// items join the conversation as their `conversation.item.added` goes out.
pub(crate) struct Planned {
    pub(crate) events: Vec<Timed>,
    pub(crate) total_tokens: u64,
}

/// Plans a response made of `outputs`, in order.
pub(crate) fn plan(p: &Plan<'_>, outputs: &[Output]) -> Planned {
    let mut b = Builder {
        p,
        events: Vec::new(),
        t: Duration::ZERO,
        done: Vec::new(),
        text_tokens: 0,
        audio_ms: 0,
    };
    b.push(json!({ "type": "response.created",
        "response": response(p, "in_progress", json!([]), Value::Null) }));
    for (index, output) in outputs.iter().enumerate() {
        match &output.kind {
            Kind::Message { text } => b.message(index, &output.item_id, text),
            Kind::Call {
                call_id,
                name,
                arguments,
            } => b.call(index, &output.item_id, call_id, name, arguments),
            Kind::ApprovalRequest {
                server_label,
                name,
                arguments,
            } => {
                let item = json!({ "id": output.item_id, "type": "mcp_approval_request",
                    "server_label": server_label, "name": name, "arguments": arguments });
                b.text_tokens += text_tokens(arguments);
                b.item_added(index, &item);
                b.item_done(index, item);
            }
            Kind::McpCall {
                server_label,
                name,
                arguments,
                approval_request_id,
                output: result,
            } => {
                let item = json!({ "id": output.item_id, "type": "mcp_call",
                    "server_label": server_label, "name": name, "arguments": "",
                    "approval_request_id": approval_request_id });
                b.mcp_call(index, item, arguments, result);
            }
        }
    }
    let usage = usage(b.text_tokens, audio_tokens(b.audio_ms));
    let total_tokens = usage["total_tokens"].as_u64().unwrap_or(0);
    let output = Value::Array(std::mem::take(&mut b.done));
    b.push(json!({ "type": "response.done",
        "response": response(p, "completed", output, usage) }));
    Planned {
        events: b.events,
        total_tokens,
    }
}

/// The response object of `response.created` and `response.done`.
fn response(p: &Plan<'_>, status: &str, output: Value, usage: Value) -> Value {
    let modalities = if p.audio {
        json!(["audio"])
    } else {
        json!(["text"])
    };
    json!({ "object": "realtime.response", "id": p.response_id, "status": status,
        "status_details": null, "output": output, "conversation_id": p.conversation_id,
        "output_modalities": modalities, "max_output_tokens": "inf", "usage": usage,
        "metadata": p.metadata })
}

/// Collects a response's events as its items are planned.
struct Builder<'a> {
    p: &'a Plan<'a>,
    events: Vec<Timed>,
    /// Send time of the next event.
    t: Duration,
    /// The finished items, for `response.done`.
    done: Vec<Value>,
    text_tokens: u64,
    audio_ms: u64,
}

impl Builder<'_> {
    fn push(&mut self, event: Value) {
        self.events.push((self.t, Event::Json(event)));
    }

    fn item_added(&mut self, index: usize, item: &Value) {
        let rid = self.p.response_id;
        self.push(
            json!({ "type": "response.output_item.added", "response_id": rid,
            "output_index": index, "item": item }),
        );
        if self.p.conversation_id.is_some() {
            // Its previous_item_id is filled in as it is sent.
            self.push(
                json!({ "type": "conversation.item.added", "previous_item_id": null,
                "item": item }),
            );
        }
    }

    fn item_done(&mut self, index: usize, item: Value) {
        let rid = self.p.response_id;
        if self.p.conversation_id.is_some() {
            self.push(
                json!({ "type": "conversation.item.done", "previous_item_id": null,
                "item": item }),
            );
        }
        self.push(
            json!({ "type": "response.output_item.done", "response_id": rid,
            "output_index": index, "item": item }),
        );
        self.done.push(item);
    }

    /// A message: its content part, then audio with its transcript, or text.
    fn message(&mut self, index: usize, item_id: &str, text: &str) {
        let audio = self.p.audio;
        let item = |status: &str, content: Value| {
            json!({ "id": item_id, "object": "realtime.item", "type": "message",
                "status": status, "role": "assistant", "content": content })
        };
        let ids = json!({ "response_id": self.p.response_id, "item_id": item_id,
            "output_index": index, "content_index": 0 });
        let with_ids = |mut v: Value| {
            if let (Some(v), Some(ids)) = (v.as_object_mut(), ids.as_object()) {
                v.extend(ids.clone());
            }
            v
        };
        self.item_added(index, &item("in_progress", json!([])));
        let (part_type, field) = if audio {
            ("audio", "transcript")
        } else {
            ("text", "text")
        };
        self.push(with_ids(json!({ "type": "response.content_part.added",
            "part": { "type": part_type, field: "" } })));
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        let start = self.t;
        if audio {
            let pcm = voice::speech(text);
            let per_chunk = (voice::RATE as u64 * CHUNK_MS / 1000) as usize;
            let chunks = pcm.len().div_ceil(per_chunk);
            self.audio_ms += pcm.len() as u64 * 1000 / voice::RATE as u64;
            let head = Arc::new(with_ids(
                json!({ "type": "response.output_audio.delta", "delta": "" }),
            ));
            let mut word = 0;
            for i in 0..chunks {
                if self.p.pace == Pace::RealTime {
                    self.t = start + Duration::from_millis(CHUNK_MS * i as u64);
                }
                let audio = Samples {
                    pcm: pcm.clone(),
                    range: i * per_chunk..((i + 1) * per_chunk).min(pcm.len()),
                    format: self.p.format,
                };
                self.events
                    .push((self.t, Event::Audio(head.clone(), audio)));
                // Spread the transcript over the audio.
                let until = (i + 1) * words.len() / chunks;
                if until > word {
                    let delta: String = words[word..until].concat();
                    word = until;
                    self.push(with_ids(json!({
                        "type": "response.output_audio_transcript.delta", "delta": delta })));
                }
            }
            self.push(with_ids(json!({ "type": "response.output_audio.done" })));
            self.push(with_ids(json!({
                "type": "response.output_audio_transcript.done", "transcript": text })));
        } else {
            for (i, w) in words.iter().enumerate() {
                if self.p.pace == Pace::RealTime {
                    self.t = start + Duration::from_millis(WORD_MS * i as u64);
                }
                self.push(with_ids(
                    json!({ "type": "response.output_text.delta", "delta": w }),
                ));
            }
            self.push(with_ids(
                json!({ "type": "response.output_text.done", "text": text }),
            ));
        }
        self.text_tokens += text_tokens(text);
        self.push(with_ids(json!({ "type": "response.content_part.done",
            "part": { "type": part_type, field: text } })));
        let content = if audio {
            json!([{ "type": "output_audio", "transcript": text }])
        } else {
            json!([{ "type": "output_text", "text": text }])
        };
        self.item_done(index, item("completed", content));
    }

    /// A function call: the item, then its arguments in pieces.
    fn call(&mut self, index: usize, item_id: &str, call_id: &str, name: &str, arguments: &str) {
        let rid = self.p.response_id;
        let item = |status: &str, args: &str| {
            json!({ "id": item_id, "object": "realtime.item", "type": "function_call",
                "status": status, "call_id": call_id, "name": name, "arguments": args })
        };
        self.item_added(index, &item("in_progress", ""));
        for delta in pieces(arguments) {
            self.push(json!({ "type": "response.function_call_arguments.delta",
                "response_id": rid, "item_id": item_id, "output_index": index,
                "call_id": call_id, "delta": delta }));
        }
        self.push(
            json!({ "type": "response.function_call_arguments.done", "response_id": rid,
            "item_id": item_id, "output_index": index, "call_id": call_id, "name": name,
            "arguments": arguments }),
        );
        self.text_tokens += text_tokens(arguments);
        self.item_done(index, item("completed", arguments));
    }

    /// An MCP tool call: the item, its arguments in pieces, the call, then its output.
    fn mcp_call(&mut self, index: usize, mut item: Value, arguments: &str, result: &str) {
        let ids = json!({ "response_id": self.p.response_id, "item_id": item["id"],
            "output_index": index });
        let event = |ty: &str, field: &str, value: &str| {
            let mut e = ids.clone();
            e["type"] = json!(ty);
            if !field.is_empty() {
                e[field] = json!(value);
            }
            e
        };
        self.item_added(index, &item);
        for delta in pieces(arguments) {
            self.push(event("response.mcp_call_arguments.delta", "delta", &delta));
        }
        self.push(event(
            "response.mcp_call_arguments.done",
            "arguments",
            arguments,
        ));
        self.push(event("response.mcp_call.in_progress", "", ""));
        self.push(event("response.mcp_call.completed", "", ""));
        self.text_tokens += text_tokens(arguments);
        item["arguments"] = json!(arguments);
        item["output"] = json!(result);
        self.item_done(index, item);
    }
}

/// `text` in three pieces, split on character boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(chars.len().div_ceil(3).max(1))
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(events: &[Timed]) -> Vec<String> {
        events
            .iter()
            .map(|(_, e)| match e {
                Event::Json(e) => e["type"].as_str().unwrap().to_owned(),
                Event::Audio(head, _) => head["type"].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    fn message(text: &str) -> Vec<Output> {
        vec![Output {
            item_id: "i".into(),
            kind: Kind::Message { text: text.into() },
        }]
    }

    fn plan_of(audio: bool, pace: Pace) -> Plan<'static> {
        Plan {
            response_id: "r",
            conversation_id: Some("c"),
            metadata: &Value::Null,
            audio,
            pace,
            format: Format::Pcm,
        }
    }

    #[test]
    fn audio_plan_is_ordered_paced_and_complete() {
        let Planned { events, .. } =
            plan(&plan_of(true, Pace::RealTime), &message("one two three"));
        let ms = voice::synthesize("one two three").len() as u64 * 1000 / voice::RATE as u64;
        let t = types(&events);
        assert_eq!(t[0], "response.created");
        assert_eq!(t.last().unwrap(), "response.done");
        assert!(t.iter().any(|x| x == "response.output_audio.delta"));
        let transcript: String = events
            .iter()
            .filter_map(|(_, e)| e.json())
            .filter(|e| e["type"] == "response.output_audio_transcript.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(transcript, "one two three");
        let deltas = t
            .iter()
            .filter(|x| *x == "response.output_audio.delta")
            .count() as u64;
        assert_eq!(deltas, ms.div_ceil(CHUNK_MS));
        assert!(
            events.windows(2).all(|w| w[0].0 <= w[1].0),
            "send times never go back"
        );
        assert_eq!(
            events.last().unwrap().0,
            Duration::from_millis(CHUNK_MS * (deltas - 1))
        );
    }

    #[test]
    fn text_plan_has_no_audio() {
        let Planned { events, .. } = plan(&plan_of(false, Pace::Fast), &message("a b"));
        let t = types(&events);
        assert!(!t.iter().any(|x| x.contains("audio")));
        assert_eq!(
            t.iter()
                .filter(|x| *x == "response.output_text.delta")
                .count(),
            2
        );
        assert!(events.iter().all(|(at, _)| at.is_zero()));
    }

    #[test]
    fn out_of_band_plan_leaves_the_conversation_alone() {
        let metadata = json!({ "k": "v" });
        let p = Plan {
            conversation_id: None,
            metadata: &metadata,
            ..plan_of(false, Pace::Fast)
        };
        let Planned { events, .. } = plan(&p, &message("a b"));
        assert!(
            !types(&events)
                .iter()
                .any(|t| t.starts_with("conversation."))
        );
        let done = &events.last().unwrap().1.json().unwrap()["response"];
        assert_eq!(done["conversation_id"], Value::Null);
        assert_eq!(done["metadata"], metadata);
    }

    #[test]
    fn calls_count_their_arguments_in_usage() {
        let outputs = vec![Output {
            item_id: "i".into(),
            kind: Kind::Call {
                call_id: "c".into(),
                name: "f".into(),
                arguments: r#"{"city": "Par"#.into(),
            },
        }];
        let Planned {
            events,
            total_tokens,
        } = plan(&plan_of(true, Pace::Fast), &outputs);
        let done = &events.last().unwrap().1.json().unwrap()["response"];
        assert_eq!(done["usage"]["output_tokens"], 4);
        assert_eq!(done["usage"]["total_tokens"], total_tokens);
        let streamed: String = events
            .iter()
            .filter_map(|(_, e)| e.json())
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(streamed, r#"{"city": "Par"#, "sent as it is");
    }
}
