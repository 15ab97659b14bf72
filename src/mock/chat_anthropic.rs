//! Anthropic's Messages shape of a simulated answer: `message_start`, one content block
//! (text, or a `tool_use` whose input comes in `input_json_delta`s), `message_delta` with
//! the stop reason and usage, `message_stop`; its whole message; its errors.

use serde_json::{Value, json};

use super::chat_reply::ErrorKind;
use super::chat_reply::{INPUT_TOKENS, Reply};

fn id(reply: &Reply) -> String {
    format!("msg_sim{}", reply.created)
}

fn tool_id(call_id: &str) -> String {
    format!("toolu_{}", call_id.trim_start_matches("call_"))
}

fn stop_reason(reply: &Reply) -> &'static str {
    if reply.tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn event(kind: &str, data: &Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

/// The stream's events, `message_stop` last.
pub(crate) fn events(reply: &Reply) -> Vec<String> {
    let mut out = vec![event(
        "message_start",
        &json!({ "type": "message_start", "message": { "id": id(reply), "type": "message",
            "role": "assistant", "content": [], "model": reply.model, "stop_reason": null,
            "stop_sequence": null, "usage": { "input_tokens": INPUT_TOKENS, "output_tokens": 1 } } }),
    )];
    match &reply.tool {
        Some((call_id, name, parts)) => {
            out.push(event("content_block_start", &json!({ "type": "content_block_start", "index": 0,
                "content_block": { "type": "tool_use", "id": tool_id(call_id), "name": name, "input": {} } })));
            for p in parts {
                out.push(event(
                    "content_block_delta",
                    &json!({ "type": "content_block_delta", "index": 0,
                    "delta": { "type": "input_json_delta", "partial_json": p } }),
                ));
            }
        }
        None => {
            out.push(event(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": 0,
                "content_block": { "type": "text", "text": "" } }),
            ));
            out.push(event("ping", &json!({ "type": "ping" })));
            for p in &reply.pieces {
                out.push(event(
                    "content_block_delta",
                    &json!({ "type": "content_block_delta", "index": 0,
                    "delta": { "type": "text_delta", "text": p } }),
                ));
            }
        }
    }
    out.push(event(
        "content_block_stop",
        &json!({ "type": "content_block_stop", "index": 0 }),
    ));
    out.push(event(
        "message_delta",
        &json!({ "type": "message_delta",
        "delta": { "stop_reason": stop_reason(reply), "stop_sequence": null },
        "usage": { "output_tokens": reply.output_tokens() } }),
    ));
    out.push(event("message_stop", &json!({ "type": "message_stop" })));
    out
}

/// The whole message, not streamed.
pub(crate) fn whole(reply: &Reply) -> Value {
    let content = match &reply.tool {
        Some((call_id, name, parts)) => {
            let input: Value = serde_json::from_str(&parts.concat()).unwrap_or(json!({}));
            json!([{ "type": "tool_use", "id": tool_id(call_id), "name": name, "input": input }])
        }
        None => json!([{ "type": "text", "text": reply.text() }]),
    };
    json!({ "id": id(reply), "type": "message", "role": "assistant", "model": reply.model,
        "content": content, "stop_reason": stop_reason(reply), "stop_sequence": null,
        "usage": { "input_tokens": INPUT_TOKENS, "output_tokens": reply.output_tokens() } })
}

/// The `error` event Anthropic sends mid-stream when overloaded.
pub(crate) fn error_event() -> String {
    event("error", &error_body(ErrorKind::Overloaded, "Overloaded"))
}

/// Anthropic's error body.
pub(crate) fn error_body(kind: ErrorKind, message: &str) -> Value {
    let kind = match kind {
        ErrorKind::Auth => "authentication_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Quota => "billing_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Server => "api_error",
        ErrorKind::BadRequest => "invalid_request_error",
        ErrorKind::NotFound => "not_found_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}
