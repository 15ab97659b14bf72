//! Server-Sent Events out: relaying a chat stream to a browser.

use serde_json::{Value, json};

use super::engine::{ChatEvent, Chunk};

/// `data: …` lines for one event, each line of `data` prefixed, and the blank line.
pub fn format_sse_data(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The closing `data: [DONE]` event.
pub fn format_sse_done() -> &'static str {
    "data: [DONE]\n\n"
}

/// What a browser is told when the upstream request failed: nothing more (the details
/// stay in the server's log).
pub(crate) const UPSTREAM_FAILED: &str = r#"{"error":"the upstream request failed"}"#;

/// A simplified event for browsers: a chunk becomes `{"text": …}` (with `role` and merged
/// `tool_calls` fragments when present); the terminal event becomes `[DONE]`; an error
/// becomes `{"error": "the upstream request failed"}` and `[DONE]` — its details stay on
/// the server. `None` for a chunk with nothing to show.
pub fn event_to_simplified_sse(event: &ChatEvent) -> Option<String> {
    match event {
        ChatEvent::Chunk(c) => simplified_json(c).map(|json| format_sse_data(&json)),
        ChatEvent::Complete(_) => Some(format_sse_done().to_owned()),
        ChatEvent::Error(_) => Some(format!(
            "{}{}",
            format_sse_data(UPSTREAM_FAILED),
            format_sse_done()
        )),
    }
}

/// A chunk's `{"text": …}` JSON (with `role` and `tool_calls` when present), or `None`
/// when it has nothing to show.
pub(crate) fn simplified_json(c: &Chunk) -> Option<String> {
    let choice = c.delta.as_ref()?.choices.first()?;
    if choice.content.is_none() && choice.role.is_none() && choice.tool_calls.is_empty() {
        return None;
    }
    let mut v = json!({ "text": choice.content.as_deref().unwrap_or_default() });
    if let Some(role) = &choice.role {
        v["role"] = Value::String(role.clone());
    }
    if !choice.tool_calls.is_empty() {
        v["tool_calls"] = serde_json::to_value(&choice.tool_calls).ok()?;
    }
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_data_is_split_into_lines() {
        assert_eq!(format_sse_data("a\nb"), "data: a\ndata: b\n\n");
        assert_eq!(format_sse_done(), "data: [DONE]\n\n");
    }
}
