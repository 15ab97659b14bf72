//! The Gemini `generateContent` request body, from Chat Completions-shaped options.
//!
//! Google's shape (`ai.google.dev/api/generate-content`): `contents` of `user` and `model`
//! turns made of `parts`, the system prompt in `systemInstruction`, the sampling options
//! in `generationConfig`, function declarations in `tools`, and `toolConfig`. The model
//! and whether to stream are in the URL, not the body. What is already in Gemini's shape
//! (a message with `parts`, a part without `type`, a `generationConfig`, a tool without
//! `type: function`, any other field) passes through as is.

use serde_json::{Map, Value, json};

use super::gemini::MADE_ID_PREFIX;

/// Google's documented stand-in for a function call's `thoughtSignature` when the
/// history does not have the one the model sent (Gemini 3 refuses a function call in
/// the history without one).
const NO_SIGNATURE: &str = "skip_thought_signature_validator";

/// OpenAI fields with no Gemini counterpart: dropped rather than refused by Gemini as
/// unknown names.
const DROPPED: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "parallel_tool_calls",
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
];

/// The request body: system and developer messages in `systemInstruction`, the others
/// as `contents` (consecutive turns of one role merged), and `params` mapped to
/// Gemini's names (see [`config_name`]), the rest passed through.
pub(crate) fn body(
    model: &str,
    messages: &[Value],
    stream: bool,
    params: &Map<String, Value>,
) -> Value {
    // The model and streaming are in the URL.
    let _ = (model, stream);
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::with_capacity(messages.len());
    for (at, m) in messages.iter().enumerate() {
        let (role, parts) = match m.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => {
                system.extend(parts_of(m.get("content")));
                continue;
            }
            Some("tool" | "function") => ("user", vec![function_response(m, &messages[..at])]),
            Some("assistant" | "model") => ("model", model_parts(m)),
            _ => (
                "user",
                parts_of(m.get("content").or_else(|| m.get("parts"))),
            ),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(Value::Array(had)) = last.get_mut("parts") {
                    had.extend(parts);
                }
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    let mut given_config = None;
    for (k, v) in params {
        if let Some(name) = config_name(k) {
            config.insert(name.to_owned(), config_value(k, v));
            continue;
        }
        match k.as_str() {
            "generationConfig" => given_config = Some(v),
            "tools" => {
                body.insert(k.clone(), tools(v));
            }
            "tool_choice" => {
                body.insert("toolConfig".into(), tool_choice(v));
            }
            "response_format" => response_format(v, &mut config),
            k if DROPPED.contains(&k) => {}
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    // A `generationConfig` given in Gemini's shape wins over the mapped names.
    if let Some(Value::Object(given)) = given_config {
        config.extend(given.clone());
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

/// The `generationConfig` name of a Chat Completions parameter.
fn config_name(param: &str) -> Option<&'static str> {
    Some(match param {
        "temperature" => "temperature",
        "top_p" => "topP",
        "top_k" => "topK",
        "max_tokens" | "max_completion_tokens" => "maxOutputTokens",
        "stop" => "stopSequences",
        "seed" => "seed",
        "n" => "candidateCount",
        "presence_penalty" => "presencePenalty",
        "frequency_penalty" => "frequencyPenalty",
        "logprobs" => "responseLogprobs",
        "top_logprobs" => "logprobs",
        _ => return None,
    })
}

fn config_value(param: &str, v: &Value) -> Value {
    match (param, v) {
        ("stop", Value::String(s)) => json!([s]),
        _ => v.clone(),
    }
}

/// `response_format`: JSON output, with its schema when given.
fn response_format(v: &Value, config: &mut Map<String, Value>) {
    match v.get("type").and_then(Value::as_str) {
        Some("json_object") => {
            config.insert("responseMimeType".into(), "application/json".into());
        }
        Some("json_schema") => {
            config.insert("responseMimeType".into(), "application/json".into());
            if let Some(schema) = v.pointer("/json_schema/schema") {
                config.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        _ => {}
    }
}

/// A message's content as parts: a string as one text part; typed parts as Gemini's
/// (`text`, `image_url` as `inlineData` for a `data:` URL or `fileData` otherwise);
/// parts without a `type`, already Gemini's, as given.
fn parts_of(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) if !s.is_empty() => vec![json!({"text": s})],
        Some(Value::Array(parts)) => parts.iter().filter_map(part).collect(),
        _ => Vec::new(),
    }
}

fn part(p: &Value) -> Option<Value> {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => Some(json!({"text": p.get("text")?})),
        Some("image_url") => {
            let url = &p["image_url"];
            let url = url.get("url").unwrap_or(url).as_str()?;
            Some(image(url))
        }
        _ => Some(p.clone()),
    }
}

/// A `data:` URL as inline data; another URL as file data, with its type when its
/// extension tells it.
fn image(url: &str) -> Value {
    if let Some((mime, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        return json!({"inlineData": {"mimeType": mime, "data": data}});
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let mime = match ext.as_deref() {
        Some("png") => Some("image/png"),
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        Some("webp") => Some("image/webp"),
        Some("gif") => Some("image/gif"),
        Some("heic") => Some("image/heic"),
        _ => None,
    };
    match mime {
        Some(mime) => json!({"fileData": {"fileUri": url, "mimeType": mime}}),
        None => json!({"fileData": {"fileUri": url}}),
    }
}

/// An assistant message: its text, then a `functionCall` per OpenAI tool call
/// (arguments that are not a JSON object become `{}`). The first call of a turn carries
/// its thought signature: the one given in Google's OpenAI-compatible place
/// (`extra_content.google.thought_signature`), else Google's stand-in.
fn model_parts(m: &Value) -> Vec<Value> {
    let mut parts = parts_of(m.get("content").or_else(|| m.get("parts")));
    let calls = m.get("tool_calls").and_then(Value::as_array);
    for (i, call) in calls.into_iter().flatten().enumerate() {
        let function = &call["function"];
        let args = function["arguments"]
            .as_str()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        let mut fc =
            json!({"name": function.get("name").cloned().unwrap_or(Value::Null), "args": args});
        if let Some(id) = given_id(call.get("id")) {
            fc["id"] = json!(id);
        }
        let mut part = json!({"functionCall": fc});
        let signature = call.pointer("/extra_content/google/thought_signature");
        match signature {
            Some(s) => part["thoughtSignature"] = s.clone(),
            None if i == 0 => part["thoughtSignature"] = json!(NO_SIGNATURE),
            None => {}
        }
        parts.push(part);
    }
    parts
}

/// A tool call id that Gemini gave (not one made for a call that came without).
fn given_id(id: Option<&Value>) -> Option<&str> {
    id.and_then(Value::as_str)
        .filter(|id| !id.is_empty() && !id.starts_with(MADE_ID_PREFIX))
}

/// A tool result as a `functionResponse`: its function's name is the one the earlier
/// assistant call of that `tool_call_id` named (or the message's own `name`); a JSON
/// object result is the response, anything else goes under `output`, as Google
/// documents.
fn function_response(m: &Value, before: &[Value]) -> Value {
    let call_id = m.get("tool_call_id").and_then(Value::as_str);
    let named = call_id.and_then(|id| {
        before.iter().rev().find_map(|earlier| {
            earlier
                .get("tool_calls")?
                .as_array()?
                .iter()
                .find(|c| c["id"] == id)?
                .pointer("/function/name")
                .cloned()
        })
    });
    let name = named
        .or_else(|| m.get("name").cloned())
        .unwrap_or(Value::Null);
    let text = match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({"output": v}),
        Err(_) => json!({"output": text}),
    };
    let mut fr = json!({"name": name, "response": response});
    if let Some(id) = given_id(m.get("tool_call_id")) {
        fr["id"] = json!(id);
    }
    json!({"functionResponse": fr})
}

/// OpenAI's function tools as one Gemini tool of `functionDeclarations`; other tools
/// (Gemini's own: `googleSearch`, `codeExecution`, declarations already) as given.
fn tools(v: &Value) -> Value {
    let Some(list) = v.as_array() else {
        return v.clone();
    };
    let mut declarations = Vec::new();
    let mut out = Vec::new();
    for t in list {
        match t.get("function").filter(|_| t["type"] == "function") {
            Some(f) => {
                let mut d = Map::new();
                d.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
                for key in ["description", "parameters"] {
                    if let Some(v) = f.get(key) {
                        d.insert(key.into(), v.clone());
                    }
                }
                declarations.push(Value::Object(d));
            }
            None => out.push(t.clone()),
        }
    }
    if !declarations.is_empty() {
        out.insert(0, json!({"functionDeclarations": declarations}));
    }
    Value::Array(out)
}

/// OpenAI's `tool_choice` as `toolConfig.functionCallingConfig`: `auto` → `AUTO`,
/// `required` → `ANY`, `none` → `NONE`, a named function → `ANY` allowing only it.
fn tool_choice(v: &Value) -> Value {
    let config = match v {
        Value::String(s) => match s.as_str() {
            "required" => json!({"mode": "ANY"}),
            "none" => json!({"mode": "NONE"}),
            "auto" => json!({"mode": "AUTO"}),
            other => json!({"mode": other.to_ascii_uppercase()}),
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            json!({"mode": "ANY", "allowedFunctionNames": [v["function"]["name"]]})
        }
        // Already Gemini's `toolConfig`.
        _ => return v.clone(),
    };
    json!({"functionCallingConfig": config})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_contents_and_a_system_instruction() {
        let messages = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "Weather in Paris and Rome?"}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "And this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1"}}
            ]}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_gemini_r1_0_0", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "fc_2", "type": "function", "function": {"name": "weather", "arguments": "not json"},
                 "extra_content": {"google": {"thought_signature": "c2ln"}}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_gemini_r1_0_0", "content": "18C"}),
            json!({"role": "tool", "tool_call_id": "fc_2", "content": "{\"celsius\":21}"}),
            json!({"role": "model", "parts": [{"text": "Paris 18C, Rome 21C."}]}),
        ];
        let b = body("gemini-2.5-flash", &messages, true, &Map::new());
        assert!(
            b.get("model").is_none() && b.get("stream").is_none(),
            "in the URL"
        );
        assert_eq!(
            b["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}]})
        );
        let c = b["contents"].as_array().unwrap();
        assert_eq!(
            c.len(),
            4,
            "the two user turns merged, the results in one turn"
        );
        assert_eq!(
            c[0]["parts"],
            json!([
                {"text": "Weather in Paris and Rome?"},
                {"text": "And this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"fileUri": "https://example.com/cat.JPG?x=1", "mimeType": "image/jpeg"}}
            ])
        );
        assert_eq!(
            c[1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": NO_SIGNATURE},
                {"functionCall": {"name": "weather", "args": {}, "id": "fc_2"}, "thoughtSignature": "c2ln"}
            ]})
        );
        assert_eq!(
            c[2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"output": "18C"}}},
                {"functionResponse": {"name": "weather", "response": {"celsius": 21}, "id": "fc_2"}}
            ]})
        );
        assert_eq!(
            c[3],
            json!({"role": "model", "parts": [{"text": "Paris 18C, Rome 21C."}]})
        );
    }

    #[test]
    fn params_map_to_gemini_names() {
        let params: Map<String, Value> = serde_json::from_value(json!({
            "temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_completion_tokens": 99,
            "stop": "END", "seed": 7, "n": 2, "user": "u1", "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [
                {"type": "function", "function": {"name": "weather", "description": "Today's", "parameters": {"type": "object"}}},
                {"googleSearch": {}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}, "temperature": 1.0}
        }))
        .unwrap();
        let b = body(
            "g",
            &[json!({"role": "user", "content": "Hi"})],
            false,
            &params,
        );
        assert_eq!(
            b["generationConfig"],
            json!({"temperature": 1.0, "topP": 0.9, "topK": 40, "maxOutputTokens": 99,
                "stopSequences": ["END"], "seed": 7, "candidateCount": 2,
                "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 0}})
        );
        assert_eq!(
            b["tools"],
            json!([
                {"functionDeclarations": [{"name": "weather", "description": "Today's", "parameters": {"type": "object"}}]},
                {"googleSearch": {}}
            ])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
        );
        assert!(b.get("user").is_none() && b.get("parallel_tool_calls").is_none());
        assert_eq!(b["safetySettings"][0]["threshold"], "BLOCK_NONE");
        for (given, want) in [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")] {
            assert_eq!(
                tool_choice(&json!(given))["functionCallingConfig"]["mode"],
                want
            );
        }
        let gemini = json!({"functionCallingConfig": {"mode": "AUTO"}});
        assert_eq!(tool_choice(&gemini), gemini, "already Gemini's");
    }
}
