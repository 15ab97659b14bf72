//! The Responses API request body (`CreateResponse`), from Chat Completions-shaped
//! options: messages become `input` items, OpenAI's nested function tools are flattened,
//! and the parameters take the Responses API's names. What is already in the Responses
//! API's shape passes through as is.

use serde_json::{Map, Value, json};

/// The request body: `{model, input, stream}` and `params` merged in last, under the
/// Responses API's names.
///
/// Messages, in order, as `input` items:
/// - `system` and `developer` messages stay in place as messages of role `developer`
///   (OpenAI documents `developer` as taking the place of `system`), rather than being
///   joined into `instructions`, so that their order among the turns is kept;
/// - `user` text stays a string; typed parts become `input_text` and `input_image`
///   (`image_url.url`, a URL or a `data:` URL, with its `detail`, `auto` when not given);
/// - `assistant` text stays an assistant message (its text parts joined), and its
///   `tool_calls` become `function_call` items `{call_id, name, arguments}`;
/// - `tool` messages become `function_call_output` items `{call_id, output}`;
/// - an item that already has a `type` (a `function_call`, a `reasoning` item, …) as is.
///
/// Parameters: `max_tokens` and `max_completion_tokens` become `max_output_tokens`;
/// `tools` `{type: function, function: {name, description, parameters, strict}}` become
/// `{type: function, name, description, parameters, strict}`; `tool_choice`
/// `{type: function, function: {name}}` becomes `{type: function, name}`;
/// `reasoning_effort` becomes `reasoning.effort`; `response_format` becomes
/// `text.format` (a `json_schema`'s `json_schema` object flattened into it); `stop` is
/// dropped, as the Responses API has no stop sequences. Others (`temperature`, `top_p`,
/// `parallel_tool_calls`, `instructions`, `store`, …) pass through unchanged.
pub(crate) fn body(
    model: &str,
    messages: &[Value],
    stream: bool,
    params: &Map<String, Value>,
) -> Value {
    let mut input = Vec::with_capacity(messages.len());
    for m in messages {
        items(m, &mut input);
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    body.insert("input".into(), Value::Array(input));
    body.insert("stream".into(), Value::Bool(stream));
    for (k, v) in params {
        match k.as_str() {
            "max_tokens" | "max_completion_tokens" => {
                body.insert("max_output_tokens".into(), v.clone());
            }
            "tools" => {
                body.insert(k.clone(), tools(v));
            }
            "tool_choice" => {
                body.insert(k.clone(), tool_choice(v));
            }
            "reasoning_effort" => merge(&mut body, "reasoning", "effort", v.clone()),
            "response_format" => merge(&mut body, "text", "format", text_format(v)),
            "stop" => {}
            "reasoning" | "text" if v.is_object() => {
                let slot = body.entry(k.clone()).or_insert_with(|| json!({}));
                if let (Some(to), Some(given)) = (slot.as_object_mut(), v.as_object()) {
                    to.extend(given.clone());
                }
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(body)
}

/// Sets `body[outer][inner]` unless given there already, keeping what else
/// `body[outer]` holds.
fn merge(body: &mut Map<String, Value>, outer: &str, inner: &str, v: Value) {
    let slot = body.entry(outer).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    if let Some(o) = slot.as_object_mut() {
        o.entry(inner).or_insert(v);
    }
}

/// One Chat Completions message as `input` items.
fn items(m: &Value, out: &mut Vec<Value>) {
    let role = m.get("role").and_then(Value::as_str);
    let content = m.get("content");
    match role {
        Some("system" | "developer") => {
            let content = content.map_or(Value::String(String::new()), input_content);
            out.push(json!({"role": "developer", "content": content}));
        }
        Some("user") => {
            let content = content.map_or(Value::String(String::new()), input_content);
            out.push(json!({"role": "user", "content": content}));
        }
        Some("assistant") => {
            let text = content.and_then(text_of).unwrap_or_default();
            let calls = m.get("tool_calls").and_then(Value::as_array);
            if !text.is_empty() || calls.is_none() {
                out.push(json!({"role": "assistant", "content": text}));
            }
            for call in calls.into_iter().flatten() {
                let f = &call["function"];
                let arguments = match f.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) if !v.is_null() => v.to_string(),
                    _ => "{}".to_owned(),
                };
                out.push(json!({
                    "type": "function_call",
                    "call_id": call.get("id").cloned().unwrap_or(Value::Null),
                    "name": f.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": arguments,
                }));
            }
        }
        Some("tool") => {
            let output = match content {
                Some(Value::String(s)) => s.clone(),
                Some(c) => text_of(c).unwrap_or_default(),
                None => String::new(),
            };
            out.push(json!({
                "type": "function_call_output",
                "call_id": m.get("tool_call_id").cloned().unwrap_or(Value::Null),
                "output": output,
            }));
        }
        _ => out.push(m.clone()),
    }
}

/// A message's content as input content: a string as is; `text` parts as `input_text`,
/// `image_url` parts as `input_image`; other parts as given.
fn input_content(content: &Value) -> Value {
    let Value::Array(parts) = content else {
        return content.clone();
    };
    let part = |p: &Value| match p.get("type").and_then(Value::as_str) {
        Some("text") => {
            json!({"type": "input_text", "text": p.get("text").cloned().unwrap_or_default()})
        }
        Some("image_url") => {
            let image = &p["image_url"];
            let url = image.get("url").unwrap_or(image);
            let detail = image.get("detail").cloned().unwrap_or(json!("auto"));
            json!({"type": "input_image", "image_url": url, "detail": detail})
        }
        _ => p.clone(),
    };
    Value::Array(parts.iter().map(part).collect())
}

/// A message's text: a string, or the text of its typed parts.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

/// Chat Completions' `{"type":"function","function":{…}}` tools flattened to
/// `{"type":"function", name, description, parameters, strict}`; other tools as given.
fn tools(v: &Value) -> Value {
    let Some(list) = v.as_array() else {
        return v.clone();
    };
    let tool = |t: &Value| {
        let Some(Value::Object(f)) = t.get("function").filter(|_| t["type"] == "function") else {
            return t.clone();
        };
        let mut out = Map::new();
        out.insert("type".into(), json!("function"));
        for (k, v) in f {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    };
    Value::Array(list.iter().map(tool).collect())
}

/// `tool_choice`: `auto`, `none`, `required` as is; Chat Completions' named function
/// `{type: function, function: {name}}` as `{type: function, name}`; others as given.
fn tool_choice(v: &Value) -> Value {
    match v.get("function").and_then(|f| f.get("name")) {
        Some(name) if v["type"] == "function" => json!({"type": "function", "name": name}),
        _ => v.clone(),
    }
}

/// `response_format` as `text.format`: `{type: json_schema, json_schema: {name, schema,
/// strict, description}}` flattened to `{type: json_schema, name, schema, …}`; `text` and
/// `json_object` as given.
fn text_format(v: &Value) -> Value {
    match v.get("json_schema") {
        Some(Value::Object(schema)) => {
            let mut out = Map::new();
            out.insert("type".into(), json!("json_schema"));
            for (k, v) in schema {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn messages_become_input_items() {
        let messages = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "What is this, and the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
            ]}),
            json!({"role": "assistant", "content": "A cat. Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "It is 18C."}]}),
            json!({"type": "reasoning", "id": "rs_1", "summary": []}),
        ];
        let b = body("gpt-4.1", &messages, true, &Map::new());
        assert_eq!(b["model"], "gpt-4.1");
        assert_eq!(b["stream"], true);
        assert!(b.get("messages").is_none() && b.get("instructions").is_none());
        assert_eq!(
            b["input"],
            json!([
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "input_text", "text": "What is this, and the weather in Paris?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
                    {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"}
                ]},
                {"role": "assistant", "content": "A cat. Checking."},
                {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"role": "assistant", "content": "It is 18C."},
                {"type": "reasoning", "id": "rs_1", "summary": []}
            ])
        );
        let only_calls = vec![json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": null}}
        ]})];
        assert_eq!(
            body("m", &only_calls, false, &Map::new())["input"],
            json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}])
        );
    }

    #[test]
    fn parameters_take_the_responses_names() {
        let weather = json!([{"type": "function", "function": {"name": "weather", "description": "Today's weather", "parameters": {"type": "object"}, "strict": true}}, {"type": "web_search"}]);
        let schema = json!({"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}});
        let b = body(
            "gpt-4.1",
            &[],
            false,
            &params(&[
                ("tools", weather),
                (
                    "tool_choice",
                    json!({"type": "function", "function": {"name": "weather"}}),
                ),
                ("max_completion_tokens", json!(99)),
                ("temperature", json!(0.2)),
                ("top_p", json!(0.9)),
                ("parallel_tool_calls", json!(false)),
                ("reasoning_effort", json!("low")),
                ("response_format", schema),
                ("stop", json!(["END"])),
            ]),
        );
        assert_eq!(b["max_output_tokens"], 99);
        assert!(b.get("max_completion_tokens").is_none() && b.get("stop").is_none());
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "name": "weather", "description": "Today's weather", "parameters": {"type": "object"}, "strict": true}, {"type": "web_search"}])
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "function", "name": "weather"})
        );
        assert_eq!(
            (b["temperature"].clone(), b["top_p"].clone()),
            (json!(0.2), json!(0.9))
        );
        assert_eq!(b["parallel_tool_calls"], false);
        assert_eq!(b["reasoning"], json!({"effort": "low"}));
        assert_eq!(
            b["text"],
            json!({"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}})
        );
        for choice in ["auto", "none", "required"] {
            assert_eq!(tool_choice(&json!(choice)), json!(choice));
        }
        let native = json!({"type": "function", "name": "weather"});
        assert_eq!(tool_choice(&native), native, "already the Responses shape");
        let flat = json!([{"type": "function", "name": "t", "parameters": {}}]);
        assert_eq!(tools(&flat), flat, "already the Responses shape");
        let b = body(
            "m",
            &[],
            true,
            &params(&[
                ("reasoning", json!({"summary": "auto"})),
                ("reasoning_effort", json!("high")),
                ("max_tokens", json!(5)),
                ("response_format", json!({"type": "json_object"})),
            ]),
        );
        assert_eq!(b["reasoning"], json!({"summary": "auto", "effort": "high"}));
        assert_eq!(b["max_output_tokens"], 5);
        assert_eq!(b["text"], json!({"format": {"type": "json_object"}}));
    }
}
