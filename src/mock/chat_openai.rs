//! OpenAI's Chat Completions shape of a simulated answer: chunks ending in `[DONE]`, the
//! whole completion, and its errors.

use serde_json::{Value, json};

use super::chat_reply::ErrorKind;
use super::chat_reply::{INPUT_TOKENS, Reply};

fn usage(reply: &Reply) -> Value {
    let out = reply.output_tokens();
    json!({ "prompt_tokens": INPUT_TOKENS, "completion_tokens": out, "total_tokens": INPUT_TOKENS + out })
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.tool.is_some() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// The non-streaming answer.
pub(crate) fn whole(reply: &Reply) -> Value {
    let mut message = json!({ "role": "assistant", "content": null, "refusal": null });
    match &reply.tool {
        Some((id, name, parts)) => {
            message["tool_calls"] = json!([{ "id": id, "type": "function",
                "function": { "name": name, "arguments": parts.concat() } }]);
        }
        None => message["content"] = json!(reply.text()),
    }
    json!({ "id": reply.id, "object": "chat.completion", "created": reply.created, "model": reply.model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(reply) }],
        "usage": usage(reply) })
}

fn chunk(reply: &Reply, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
    let mut c = json!({ "id": reply.id, "object": "chat.completion.chunk", "created": reply.created,
        "model": reply.model, "system_fingerprint": null,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }] });
    if include_usage {
        c["usage"] = Value::Null;
    }
    c
}

/// Every chunk in order as SSE events (the usage-only chunk last when asked for), then
/// `[DONE]`.
pub(crate) fn events(reply: &Reply, include_usage: bool) -> Vec<String> {
    let mut out = vec![chunk(
        reply,
        json!({ "role": "assistant", "content": "", "refusal": null }),
        None,
        include_usage,
    )];
    match &reply.tool {
        Some((id, name, parts)) => {
            let first = json!({ "tool_calls": [{ "index": 0, "id": id, "type": "function",
                "function": { "name": name, "arguments": "" } }] });
            out.push(chunk(reply, first, None, include_usage));
            for p in parts {
                let more =
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": p } }] });
                out.push(chunk(reply, more, None, include_usage));
            }
        }
        None => {
            for p in &reply.pieces {
                out.push(chunk(reply, json!({ "content": p }), None, include_usage));
            }
        }
    }
    out.push(chunk(
        reply,
        json!({}),
        Some(finish_reason(reply)),
        include_usage,
    ));
    if include_usage {
        out.push(json!({ "id": reply.id, "object": "chat.completion.chunk", "created": reply.created,
            "model": reply.model, "system_fingerprint": null, "choices": [], "usage": usage(reply) }));
    }
    let mut events: Vec<String> = out.iter().map(|c| format!("data: {c}\n\n")).collect();
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// An error object inside the 200 stream, as OpenRouter sends when the provider behind it
/// fails mid-way: no `type`, the HTTP status it stands for as a numeric `code`.
pub(crate) fn error_event() -> String {
    let e = json!({ "error": { "code": 502, "message": "The model failed mid-stream." } });
    format!("data: {e}\n\n")
}

/// OpenAI's error body.
pub(crate) fn error_body(kind: ErrorKind, message: &str) -> Value {
    let (kind, code, param) = match kind {
        ErrorKind::Auth => ("invalid_request_error", Some("invalid_api_key"), None),
        ErrorKind::RateLimit => ("requests", Some("rate_limit_exceeded"), None),
        ErrorKind::Quota => ("insufficient_quota", Some("insufficient_quota"), None),
        ErrorKind::BadRequest => ("invalid_request_error", None, Some("messages")),
        ErrorKind::NotFound => ("invalid_request_error", None, None),
        ErrorKind::Overloaded | ErrorKind::Server => ("server_error", None, None),
    };
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
}
