//! The Anthropic Messages request body, from Chat Completions-shaped options: system
//! messages moved to `system`, OpenAI tool calls, tool results, image parts, tools and
//! `tool_choice` turned into Anthropic's blocks and fields. What is already in Anthropic's shape passes
//! through as is: `document` parts, `cache_control` on a part, thinking blocks with their
//! signatures. Messages of the same role in a row are merged into one, since Anthropic's
//! turns alternate; the first message may be the assistant's (Anthropic documents no rule
//! against it, and a last assistant message is its "prefill").

use serde_json::{Map, Value, json};

use super::wire::ANTHROPIC_DEFAULT_MAX_TOKENS;

/// The Messages request body: system messages are taken out of `messages` into `system`
/// (joined by a blank line, or, when a part has more than its text, such as
/// `cache_control`, as Anthropic's list of text blocks), consecutive messages of one role
/// merged (see [`alternate`]), `max_tokens` defaults to 1024 (or `max_completion_tokens`),
/// and `params` are merged in last, OpenAI's `tools`, `tool_choice` and `stop` turned into
/// Anthropic's.
pub(crate) fn body(
    model: &str,
    messages_in: &[Value],
    stream: bool,
    params: &Map<String, Value>,
) -> Value {
    let mut system: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::with_capacity(messages_in.len());
    for m in messages_in {
        match m.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => match m.get("content") {
                Some(Value::String(s)) => system.push(json!({"type": "text", "text": s})),
                Some(Value::Array(parts)) => system.extend(
                    (parts.iter())
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                        .cloned(),
                ),
                _ => {}
            },
            Some("tool") => {
                let block = tool_result(m);
                // Tool results go back in a user message; results in a row share one.
                match messages.last_mut() {
                    Some(last) if is_tool_results(last) => {
                        if let Some(Value::Array(blocks)) = last.get_mut("content") {
                            blocks.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
            Some("assistant") if m.get("tool_calls").is_some_and(Value::is_array) => {
                messages.push(assistant_tool_calls(m));
            }
            _ => messages.push(with_images(m)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    let max = params.get("max_completion_tokens").cloned();
    body.insert(
        "max_tokens".into(),
        max.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS.into()),
    );
    body.insert("stream".into(), Value::Bool(stream));
    body.insert("messages".into(), Value::Array(alternate(messages)));
    if !system.is_empty() {
        body.insert("system".into(), system_field(system));
    }
    for (k, v) in params {
        let (k, v) = match k.as_str() {
            "max_completion_tokens" => continue,
            "tools" => (k.clone(), tools(v)),
            "tool_choice" => (k.clone(), tool_choice(v)),
            "stop" => match v {
                Value::String(s) => ("stop_sequences".to_owned(), json!([s])),
                _ => ("stop_sequences".to_owned(), v.clone()),
            },
            _ => (k.clone(), v.clone()),
        };
        body.insert(k, v);
    }
    Value::Object(body)
}

/// The `system` field: the blocks' texts joined by a blank line when they are plain text
/// blocks, else the blocks as given (with their `cache_control`).
fn system_field(blocks: Vec<Value>) -> Value {
    let plain = blocks.iter().all(|b| {
        b.as_object().is_some_and(|o| {
            o.get("type").and_then(Value::as_str) == Some("text")
                && o.get("text").is_some_and(Value::is_string)
                && o.len() == 2
        })
    });
    if !plain {
        return Value::Array(blocks);
    }
    let texts: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
    Value::String(texts.join("\n\n"))
}

/// Messages of one role in a row merged into one, their contents as blocks in order
/// (a string as a text block, an empty one dropped): Anthropic's documented alternation
/// of `user` and `assistant` turns. A single message is left as given.
fn alternate(messages: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    for m in messages {
        let same = out
            .last()
            .is_some_and(|last| last.get("role").is_some() && last.get("role") == m.get("role"));
        if !same {
            out.push(m);
            continue;
        }
        let Some(last) = out.last_mut() else { continue };
        let mut blocks = blocks_of(last.get("content"));
        blocks.extend(blocks_of(m.get("content")));
        last["content"] = Value::Array(blocks);
    }
    out
}

/// A message's content as a list of blocks.
fn blocks_of(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(parts)) => parts.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// A message's text: a string, or the text of its typed parts.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// A message whose OpenAI `image_url` parts become Anthropic `image` blocks (a `data:`
/// URL as base64, another URL as a URL source).
fn with_images(m: &Value) -> Value {
    let mut m = m.clone();
    if let Some(Value::Array(parts)) = m.get_mut("content") {
        for part in parts.iter_mut() {
            if part.get("type").and_then(Value::as_str) != Some("image_url") {
                continue;
            }
            let url = &part["image_url"];
            let url = url.get("url").unwrap_or(url).as_str().unwrap_or_default();
            let source = match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            *part = json!({"type": "image", "source": source});
        }
    }
    m
}

/// `{"role":"tool","tool_call_id","content"}` as a `tool_result` block.
fn tool_result(m: &Value) -> Value {
    let id = m.get("tool_call_id").cloned().unwrap_or(Value::Null);
    let content = match m.get("content") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(c) => Value::String(text_of(c).unwrap_or_default()),
        None => Value::String(String::new()),
    };
    json!({"type": "tool_result", "tool_use_id": id, "content": content})
}

fn is_tool_results(m: &Value) -> bool {
    m.get("role").and_then(Value::as_str) == Some("user")
        && m.get("content")
            .and_then(Value::as_array)
            .is_some_and(|blocks| {
                blocks
                    .iter()
                    .all(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            })
}

/// An assistant message with OpenAI `tool_calls`: its text, then a `tool_use` block per
/// call (arguments that are not JSON become `{}`).
fn assistant_tool_calls(m: &Value) -> Value {
    let mut blocks = Vec::new();
    if let Some(text) = m.get("content").and_then(text_of).filter(|t| !t.is_empty()) {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        let function = &call["function"];
        let input = function["arguments"]
            .as_str()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        blocks.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or(Value::Null),
            "name": function.get("name").cloned().unwrap_or(Value::Null),
            "input": input,
        }));
    }
    json!({"role": "assistant", "content": blocks})
}

/// OpenAI's `{"type":"function","function":{name, description, parameters}}` tools as
/// Anthropic's `{name, description, input_schema}`; other tools as given.
fn tools(v: &Value) -> Value {
    let Some(list) = v.as_array() else {
        return v.clone();
    };
    let tool = |t: &Value| {
        let Some(f) = t.get("function").filter(|_| t["type"] == "function") else {
            return t.clone();
        };
        let mut out = Map::new();
        out.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
        if let Some(d) = f.get("description") {
            out.insert("description".into(), d.clone());
        }
        let schema = f.get("parameters").cloned();
        let schema = schema.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        out.insert("input_schema".into(), schema);
        Value::Object(out)
    };
    Value::Array(list.iter().map(tool).collect())
}

/// OpenAI's `tool_choice` as Anthropic's: `auto`, `required` → `any`, `none`, a named
/// function → `tool`; an object already in Anthropic's shape as given.
fn tool_choice(v: &Value) -> Value {
    match v {
        Value::String(s) if s == "required" => json!({"type": "any"}),
        Value::String(s) => json!({"type": s}),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            json!({"type": "tool", "name": v["function"]["name"]})
        }
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_tools_and_tool_messages_become_anthropic_blocks() {
        let messages = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "Weather in Paris and Rome?"}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": "not json"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}),
            json!({"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "21C"}]}),
        ];
        let weather = json!([{"type": "function", "function": {"name": "weather", "description": "Today's weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        let mut params = Map::new();
        params.insert("tools".into(), weather);
        params.insert(
            "tool_choice".into(),
            json!({"type": "function", "function": {"name": "weather"}}),
        );
        params.insert("stop".into(), json!("END"));
        params.insert("max_completion_tokens".into(), json!(99));
        let b = body("claude", &messages, true, &params);
        assert_eq!(b["system"], "Be brief.");
        assert_eq!(b["max_tokens"], 99);
        assert!(b.get("max_completion_tokens").is_none());
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "weather"}));
        assert_eq!(
            b["tools"],
            json!([{"name": "weather", "description": "Today's weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
        );
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1]["content"],
            json!([
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}
            ])
        );
        assert_eq!(
            m[2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"}
            ]})
        );
        for (given, want) in [
            (json!("auto"), json!({"type": "auto"})),
            (json!("required"), json!({"type": "any"})),
            (json!("none"), json!({"type": "none"})),
            (json!({"type": "any"}), json!({"type": "any"})),
        ] {
            assert_eq!(tool_choice(&given), want);
        }
        let messages = vec![json!({"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
        ]})];
        assert_eq!(
            body("claude", &messages, true, &Map::new())["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ])
        );
        let anthropic_tool = json!([{"name": "t", "input_schema": {"type": "object"}}]);
        assert_eq!(
            tools(&anthropic_tool),
            anthropic_tool,
            "already Anthropic's"
        );
    }

    #[test]
    fn document_and_cache_control_parts_pass_through() {
        let document = json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "Report", "citations": {"enabled": true}});
        let cached = json!({"type": "text", "text": "A long shared context.", "cache_control": {"type": "ephemeral"}});
        let thinking =
            json!({"type": "thinking", "thinking": "Check the tool.", "signature": "EqQBCgIYAhIM"});
        let messages = vec![
            json!({"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}),
            json!({"role": "user", "content": [document.clone(), cached.clone()]}),
            json!({"role": "assistant", "content": [thinking.clone(), {"type": "redacted_thinking", "data": "EmwK"}]}),
        ];
        let b = body("claude", &messages, true, &Map::new());
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
        );
        assert_eq!(b["messages"][0]["content"], json!([document, cached]));
        assert_eq!(
            b["messages"][1]["content"],
            json!([thinking, {"type": "redacted_thinking", "data": "EmwK"}]),
            "a thinking block goes back with its signature"
        );
        let plain = vec![
            json!({"role": "system", "content": "One."}),
            json!({"role": "developer", "content": [{"type": "text", "text": "Two."}]}),
            json!({"role": "user", "content": "Hi"}),
        ];
        assert_eq!(
            body("claude", &plain, true, &Map::new())["system"],
            "One.\n\nTwo."
        );
    }

    #[test]
    fn same_role_messages_in_a_row_are_merged_and_an_assistant_may_lead() {
        let messages = vec![
            json!({"role": "assistant", "content": "Hello, how can I help?"}),
            json!({"role": "user", "content": "First."}),
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": [{"type": "text", "text": "Second."}]}),
            json!({"role": "user", "content": ""}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "ok"}),
            json!({"role": "user", "content": "And now?"}),
            json!({"role": "assistant", "content": "The"}),
        ];
        let b = body("claude", &messages, true, &Map::new());
        assert_eq!(
            b["messages"],
            json!([
                {"role": "assistant", "content": "Hello, how can I help?"},
                {"role": "user", "content": [
                    {"type": "text", "text": "First."},
                    {"type": "text", "text": "Second."}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
                    {"type": "text", "text": "And now?"}
                ]},
                {"role": "assistant", "content": "The"}
            ])
        );
        assert_eq!(b["system"], "Be brief.");
    }
}
