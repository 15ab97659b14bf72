//! OpenAI's Responses API shape of a simulated answer: `response.created`,
//! `response.in_progress`, one output item (a `message` whose text comes in
//! `response.output_text.delta`s, or a `function_call` whose arguments come in
//! `response.function_call_arguments.delta`s) with its `*.done` events, then
//! `response.completed` with the usage; no `[DONE]`. Also its whole `Response` and its
//! mid-stream `error` event. (Its HTTP error bodies are OpenAI's.)

use serde_json::{Value, json};

use super::chat_reply::{INPUT_TOKENS, Reply};

fn id(reply: &Reply) -> String {
    format!("resp_sim{}", reply.created)
}

fn usage(reply: &Reply) -> Value {
    let out = reply.output_tokens();
    json!({ "input_tokens": INPUT_TOKENS, "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": out, "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": INPUT_TOKENS + out })
}

/// The output item, whole (`done` true) or as begun.
fn item(reply: &Reply, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match &reply.tool {
        Some((call_id, name, parts)) => {
            let arguments = if done { parts.concat() } else { String::new() };
            json!({ "id": format!("fc_sim{}", reply.created), "type": "function_call",
                "status": status, "call_id": call_id, "name": name, "arguments": arguments })
        }
        None => {
            let content = if done {
                json!([{ "type": "output_text", "text": reply.text(), "annotations": [] }])
            } else {
                json!([])
            };
            json!({ "id": format!("msg_sim{}", reply.created), "type": "message",
                "status": status, "role": "assistant", "content": content })
        }
    }
}

/// The `Response` object: in progress (no output, no usage yet) or completed.
fn response(reply: &Reply, done: bool) -> Value {
    let (status, output, usage) = if done {
        ("completed", json!([item(reply, true)]), usage(reply))
    } else {
        ("in_progress", json!([]), Value::Null)
    };
    json!({ "id": id(reply), "object": "response", "created_at": reply.created,
        "status": status, "error": null, "incomplete_details": null, "model": reply.model,
        "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "usage": usage })
}

/// The stream's events, `response.completed` last, each with its `event:` name.
pub(crate) fn events(reply: &Reply) -> Vec<String> {
    let item_id = item(reply, false)["id"].clone();
    let mut data = vec![
        json!({ "type": "response.created", "response": response(reply, false) }),
        json!({ "type": "response.in_progress", "response": response(reply, false) }),
        json!({ "type": "response.output_item.added", "output_index": 0, "item": item(reply, false) }),
    ];
    match &reply.tool {
        Some((_, _, parts)) => {
            for p in parts {
                data.push(json!({ "type": "response.function_call_arguments.delta",
                    "item_id": item_id, "output_index": 0, "delta": p }));
            }
            data.push(json!({ "type": "response.function_call_arguments.done",
                "item_id": item_id, "output_index": 0, "arguments": parts.concat() }));
        }
        None => {
            let part =
                |text: String| json!({ "type": "output_text", "text": text, "annotations": [] });
            data.push(
                json!({ "type": "response.content_part.added", "item_id": item_id,
                "output_index": 0, "content_index": 0, "part": part(String::new()) }),
            );
            for p in &reply.pieces {
                data.push(
                    json!({ "type": "response.output_text.delta", "item_id": item_id,
                    "output_index": 0, "content_index": 0, "delta": p, "logprobs": [] }),
                );
            }
            data.push(
                json!({ "type": "response.output_text.done", "item_id": item_id,
                "output_index": 0, "content_index": 0, "text": reply.text(), "logprobs": [] }),
            );
            data.push(
                json!({ "type": "response.content_part.done", "item_id": item_id,
                "output_index": 0, "content_index": 0, "part": part(reply.text()) }),
            );
        }
    }
    data.push(json!({ "type": "response.output_item.done", "output_index": 0, "item": item(reply, true) }));
    data.push(json!({ "type": "response.completed", "response": response(reply, true) }));
    data.into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            d["sequence_number"] = json!(i);
            format!(
                "event: {}\ndata: {d}\n\n",
                d["type"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The whole `Response`, not streamed.
pub(crate) fn whole(reply: &Reply) -> Value {
    response(reply, true)
}

/// The `error` event the Responses API sends when the model fails mid-way.
pub(crate) fn error_event() -> String {
    let e = json!({ "type": "error", "code": "server_error",
        "message": "The model failed mid-stream.", "param": null, "sequence_number": 0 });
    format!("event: error\ndata: {e}\n\n")
}
