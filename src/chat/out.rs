//! Server-Sent Events out: relaying a chat stream to a browser.

use serde::Serialize;

use super::delta::ToolCallDelta;
use super::event::{ChatEvent, Chunk};

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
    serde_json::to_string(&Simplified {
        text: choice.content.as_deref().unwrap_or_default(),
        role: choice.role.as_deref(),
        tool_calls: &choice.tool_calls,
    })
    .ok()
}

/// What a browser gets of a chunk, written straight from the chunk's strings.
#[derive(Serialize)]
struct Simplified<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [ToolCallDelta],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(data: &str) -> ChatEvent {
        ChatEvent::Chunk(Chunk {
            data: data.to_owned(),
            delta: Some(super::super::Delta::parse(data).unwrap()),
            ..Chunk::default()
        })
    }

    #[test]
    fn simplified_events_for_browsers() {
        let first = chunk(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#);
        assert_eq!(
            event_to_simplified_sse(&first).unwrap(),
            "data: {\"text\":\"\",\"role\":\"assistant\"}\n\n"
        );
        let text = chunk(r#"{"choices":[{"index":0,"delta":{"content":"a \"b\"\nc"}}]}"#);
        assert_eq!(
            event_to_simplified_sse(&text).unwrap(),
            "data: {\"text\":\"a \\\"b\\\"\\nc\"}\n\n"
        );
        let call = chunk(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        );
        let json: serde_json::Value = serde_json::from_str(
            event_to_simplified_sse(&call)
                .unwrap()
                .strip_prefix("data: ")
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"text": "", "tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]})
        );
        let empty = chunk(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(event_to_simplified_sse(&empty), None);
    }

    #[test]
    fn multi_line_data_is_split_into_lines() {
        assert_eq!(format_sse_data("a\nb"), "data: a\ndata: b\n\n");
        assert_eq!(format_sse_done(), "data: [DONE]\n\n");
    }
}
