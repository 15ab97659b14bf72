//! The Ollama `/api/chat` request body, from Chat Completions-shaped options.
//!
//! Ollama documents (docs/api.md in the ollama/ollama repository) messages of `role`,
//! `content` (a string), `images` (base64), `tool_calls` (`{function:{name, arguments}}`,
//! the arguments an object) and, for tool results, `tool_name`; OpenAI's function
//! `tools`; `think`; `format` (`"json"` or a JSON schema); sampling settings in
//! `options` (`num_predict` for the token limit); `keep_alive`. What is already in
//! Ollama's shape passes through as is.

use serde_json::{Map, Value, json};

/// OpenAI parameters that are model options in Ollama, under the same name.
const OPTIONS: [&str; 6] = [
    "temperature",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
];

/// Ollama's own option names, taken into `options` when given at the top level.
const OLLAMA_OPTIONS: [&str; 10] = [
    "top_k",
    "min_p",
    "typical_p",
    "num_predict",
    "num_ctx",
    "num_keep",
    "repeat_penalty",
    "repeat_last_n",
    "mirostat",
    "num_gpu",
];

/// The request body. `stream` is always said, as Ollama streams unless told not to.
///
/// Messages: `developer` is `system`; content parts are joined into one string, their
/// `image_url`s (a `data:` URL's base64, any other string as given) moved to `images`;
/// assistant `tool_calls` keep only the function, their arguments parsed into an object
/// (`{}` when not JSON); a `tool` result gets the `tool_name` of the call it answers.
///
/// Params: `max_tokens` / `max_completion_tokens` become `options.num_predict`, OpenAI's
/// sampling settings and Ollama's option names go into `options` (a given `options`
/// object wins), `stop` as a list; `response_format` becomes `format`;
/// `reasoning_effort` becomes `think` (`none` → `false`, `minimal` → `"low"`, a level
/// as given) unless `think` is given; Ollama has no `tool_choice`, so `none` drops the
/// tools, a named function keeps only that tool, and `auto` / `required` keep them all;
/// `stream_options` is dropped; anything else (`keep_alive`, `format`, `think`,
/// `tools`) passes through.
pub(crate) fn body(
    model: &str,
    messages_in: &[Value],
    stream: bool,
    params: &Map<String, Value>,
) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(messages_in.len());
    for m in messages_in {
        let out = message(m, messages_in);
        messages.push(out);
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), Value::Bool(stream));
    let mut options = Map::new();
    let mut given_options = None;
    for (k, v) in params {
        match k.as_str() {
            "model" | "messages" | "stream" | "stream_options" | "tool_choice" => {}
            "options" => given_options = v.as_object().cloned(),
            "max_tokens" | "max_completion_tokens" => {
                options.insert("num_predict".into(), v.clone());
            }
            "stop" => {
                let stop = match v {
                    Value::String(s) => json!([s]),
                    _ => v.clone(),
                };
                options.insert("stop".into(), stop);
            }
            k if OPTIONS.contains(&k) || OLLAMA_OPTIONS.contains(&k) => {
                options.insert(k.to_owned(), v.clone());
            }
            "response_format" => {
                if let Some(format) = format(v) {
                    body.entry("format").or_insert(format);
                }
            }
            "reasoning_effort" => {
                if !params.contains_key("think") {
                    body.insert("think".into(), think(v));
                }
            }
            "tools" => {
                if let Some(tools) = tools(v, params.get("tool_choice")) {
                    body.insert("tools".into(), tools);
                }
            }
            "format" => {
                body.insert("format".into(), v.clone());
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(given) = given_options {
        options.extend(given);
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    Value::Object(body)
}

/// One message in Ollama's shape (`all` to find the call a tool result answers).
fn message(m: &Value, all: &[Value]) -> Value {
    let Some(obj) = m.as_object() else {
        return m.clone();
    };
    let mut out = Map::new();
    let role = obj.get("role").and_then(Value::as_str);
    let mut images: Vec<Value> = Vec::new();
    for (k, v) in obj {
        match k.as_str() {
            "role" if role == Some("developer") => {
                out.insert("role".into(), json!("system"));
            }
            "content" => {
                let (text, found) = content(v);
                out.insert("content".into(), Value::String(text));
                images.extend(found.into_iter().map(Value::String));
            }
            // Already Ollama's: first, then those from the content's parts.
            "images" => match v.as_array() {
                Some(given) => images.splice(0..0, given.iter().cloned()).for_each(drop),
                None => {
                    out.insert(k.clone(), v.clone());
                }
            },
            "tool_calls" if role == Some("assistant") => {
                out.insert("tool_calls".into(), tool_calls(v));
            }
            "tool_call_id" if role == Some("tool") => {
                if !obj.contains_key("tool_name")
                    && let Some(name) = v.as_str().and_then(|id| call_name(all, id))
                {
                    out.insert("tool_name".into(), Value::String(name));
                }
            }
            // OpenAI's `name` of a tool result is the function's.
            "name" if role == Some("tool") => {
                out.entry("tool_name").or_insert_with(|| v.clone());
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !out.contains_key("content") {
        out.insert("content".into(), Value::String(String::new()));
    }
    if !images.is_empty() {
        out.insert("images".into(), Value::Array(images));
    }
    Value::Object(out)
}

/// A content's text (parts joined) and its images' base64 data.
fn content(v: &Value) -> (String, Vec<String>) {
    match v {
        Value::String(s) => (s.clone(), Vec::new()),
        Value::Array(parts) => {
            let mut text = String::new();
            let mut images = Vec::new();
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                } else if p.get("type").and_then(Value::as_str) == Some("image_url") {
                    let url = &p["image_url"];
                    let url = url.get("url").unwrap_or(url).as_str().unwrap_or_default();
                    let data = url
                        .strip_prefix("data:")
                        .and_then(|rest| rest.split_once(";base64,"))
                        .map_or(url, |(_, data)| data);
                    images.push(data.to_owned());
                }
            }
            (text, images)
        }
        Value::Null => (String::new(), Vec::new()),
        other => (other.to_string(), Vec::new()),
    }
}

/// OpenAI tool calls as Ollama's: the function only, its arguments an object.
fn tool_calls(v: &Value) -> Value {
    let Some(calls) = v.as_array() else {
        return v.clone();
    };
    let call = |c: &Value| {
        let f = &c["function"];
        let arguments = match f.get("arguments") {
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
            Some(a @ Value::Object(_)) => a.clone(),
            _ => json!({}),
        };
        json!({"function": {"name": f.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments}})
    };
    Value::Array(calls.iter().map(call).collect())
}

/// The function name of the assistant's call `id`.
fn call_name(all: &[Value], id: &str) -> Option<String> {
    all.iter()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .find(|c| c["id"] == id)
        .and_then(|c| c["function"]["name"].as_str())
        .map(str::to_owned)
}

/// `response_format` as `format`: `json_object` → `"json"`, `json_schema` → its schema,
/// `text` (or anything else) → none.
fn format(v: &Value) -> Option<Value> {
    match v.get("type").and_then(Value::as_str) {
        Some("json_object") => Some(json!("json")),
        Some("json_schema") => v.pointer("/json_schema/schema").cloned(),
        _ => None,
    }
}

/// `reasoning_effort` as `think`.
fn think(v: &Value) -> Value {
    match v.as_str() {
        Some("none") => json!(false),
        Some("minimal") => json!("low"),
        Some(level @ ("low" | "medium" | "high")) => json!(level),
        _ => json!(true),
    }
}

/// The tools `tool_choice` leaves: none for `none`, the named function's alone, or all.
fn tools(v: &Value, choice: Option<&Value>) -> Option<Value> {
    match choice {
        Some(Value::String(s)) if s == "none" => None,
        Some(c) if c.get("type").and_then(Value::as_str) == Some("function") => {
            let name = &c["function"]["name"];
            let list = v.as_array()?;
            let only: Vec<Value> = list
                .iter()
                .filter(|t| t["function"]["name"] == *name)
                .cloned()
                .collect();
            Some(if only.is_empty() {
                v.clone()
            } else {
                Value::Array(only)
            })
        }
        _ => Some(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn messages_become_ollamas() {
        let messages = vec![
            json!({"role": "developer", "content": "Be brief."}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "What is "},
                {"type": "text", "text": "this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": "not json"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_2", "content": "12:00"}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]}),
            json!({"role": "user", "content": "And?", "images": ["AAAA"]}),
        ];
        let b = body("llava", &messages, true, &Map::new());
        assert_eq!(
            b,
            json!({"model": "llava", "stream": true, "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
                    {"function": {"name": "clock", "arguments": {}}}
                ]},
                {"role": "tool", "content": "12:00", "tool_name": "clock"},
                {"role": "tool", "content": "18C", "tool_name": "weather"},
                {"role": "user", "content": "And?", "images": ["AAAA"]}
            ]})
        );
        assert_eq!(
            body("m", &messages[..1], false, &Map::new())["stream"],
            false,
            "always said"
        );
    }

    #[test]
    fn params_go_where_ollama_reads_them() {
        let weather = json!({"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}});
        let clock = json!({"type": "function", "function": {"name": "clock"}});
        let p = params(json!({
            "max_completion_tokens": 99, "temperature": 0.2, "top_p": 0.9, "top_k": 40,
            "seed": 7, "stop": "END", "stream_options": {"include_usage": true},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "reasoning_effort": "minimal", "keep_alive": "10m",
            "tools": [weather, clock],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "options": {"num_ctx": 8192, "temperature": 0.5}
        }));
        let b = body(
            "qwen3",
            &[json!({"role": "user", "content": "Hi"})],
            true,
            &p,
        );
        assert_eq!(
            b["options"],
            json!({"num_predict": 99, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["END"], "num_ctx": 8192})
        );
        assert_eq!(b["format"], json!({"type": "object"}));
        assert_eq!(b["think"], "low");
        assert_eq!(b["keep_alive"], "10m");
        assert_eq!(b["tools"], json!([weather]));
        for gone in [
            "max_completion_tokens",
            "temperature",
            "stream_options",
            "tool_choice",
            "response_format",
            "reasoning_effort",
        ] {
            assert!(b.get(gone).is_none(), "{gone}");
        }
        let p = params(
            json!({"tools": [clock], "tool_choice": "none", "think": true, "reasoning_effort": "high",
            "response_format": {"type": "json_object"}, "max_tokens": 5}),
        );
        let b = body("m", &[json!({"role": "user", "content": "Hi"})], false, &p);
        assert!(b.get("tools").is_none());
        assert_eq!(b["think"], true, "a given think wins");
        assert_eq!(b["format"], "json");
        assert_eq!(b["options"], json!({"num_predict": 5}));
        for (effort, want) in [
            ("none", json!(false)),
            ("medium", json!("medium")),
            ("max", json!(true)),
        ] {
            assert_eq!(think(&json!(effort)), want);
        }
        let b = body(
            "m",
            &[json!({"role": "user", "content": "Hi"})],
            true,
            &Map::new(),
        );
        assert!(b.get("options").is_none());
    }
}
