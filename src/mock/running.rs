//! A response in progress: what of it has been sent, so that cancelling it can finish
//! what was started, as the API does: each started item and content part gets its
//! `.done` events with the partial content, then `response.done` lists the partial items
//! and counts what was sent.

use serde_json::{Value, json};

use super::usage::{audio_tokens, text_tokens, usage};
use super::voice::{self, Format};

/// A response whose events are being sent.
pub(crate) struct Running {
    pub(crate) id: String,
    /// In the default conversation (not out of band): its items join it.
    pub(crate) in_conversation: bool,
    /// The tokens reserved for it in the rate limits.
    pub(crate) reserved_tokens: u64,
    /// The response object as `response.created` gives it.
    response: Value,
    /// The opening events (`response.created`, `rate_limits.updated`) not sent yet.
    unsent_opening: Vec<Value>,
    outputs: Vec<SentItem>,
    format: Format,
}

/// What was sent of one output item.
struct SentItem {
    /// The item as `response.output_item.added` announced it.
    item: Value,
    /// Its `conversation.item.added` went out.
    in_conversation: bool,
    /// The type of its content part (`audio` or `text`), once added.
    part: Option<String>,
    /// Text, transcript or arguments sent so far.
    text: String,
    /// Output audio sent so far, in µs.
    audio_us: u64,
    /// The `.done` event types already sent for it.
    closed: Vec<String>,
    /// The item as `response.output_item.done` gave it, once sent.
    done: Option<Value>,
}

impl Running {
    /// A response about to be sent; `opening` is its `response.created` and what
    /// follows it at once.
    pub(crate) fn new(
        id: String,
        in_conversation: bool,
        opening: Vec<Value>,
        reserved_tokens: u64,
        format: Format,
    ) -> Self {
        let response = opening
            .iter()
            .find(|e| e["type"] == "response.created")
            .map_or(Value::Null, |e| e["response"].clone());
        Running {
            id,
            in_conversation,
            reserved_tokens,
            response,
            unsent_opening: opening,
            outputs: Vec::new(),
            format,
        }
    }

    /// Notes an event of this response as it goes out.
    pub(crate) fn observe(&mut self, event: &Value) {
        let ty = event["type"].as_str().unwrap_or_default();
        if let Some(at) = self.unsent_opening.iter().position(|e| e["type"] == ty) {
            self.unsent_opening.remove(at);
            return;
        }
        if ty == "response.output_item.added" {
            self.outputs.push(SentItem {
                item: event["item"].clone(),
                in_conversation: false,
                part: None,
                text: String::new(),
                audio_us: 0,
                closed: Vec::new(),
                done: None,
            });
            return;
        }
        let item_id = event
            .get("item_id")
            .or_else(|| event.pointer("/item/id"))
            .and_then(Value::as_str);
        let Some(sent) = self
            .outputs
            .iter_mut()
            .find(|o| o.item["id"].as_str() == item_id && item_id.is_some())
        else {
            return;
        };
        let delta = event["delta"].as_str().unwrap_or_default();
        match ty {
            "conversation.item.added" => sent.in_conversation = true,
            "response.content_part.added" => {
                sent.part = event
                    .pointer("/part/type")
                    .and_then(Value::as_str)
                    .map(Into::into);
            }
            "response.output_audio.delta" => {
                sent.audio_us += voice::base64_duration_us(self.format, delta);
            }
            "response.output_audio_transcript.delta"
            | "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.mcp_call_arguments.delta" => sent.text.push_str(delta),
            "response.output_item.done" => sent.done = Some(event["item"].clone()),
            _ if ty.ends_with(".done") => sent.closed.push(ty.to_owned()),
            _ => {}
        }
    }

    /// The events that end this response now, cancelled for `reason`
    /// (`client_cancelled` or `turn_detected`): the opening if it was not sent, the
    /// `.done` events of everything started and not finished, and `response.done`.
    pub(crate) fn cancel(&self, reason: &str) -> Vec<Value> {
        let mut events = self.unsent_opening.clone();
        let mut output = Vec::new();
        let (mut text, mut audio_us) = (0, 0);
        for (index, sent) in self.outputs.iter().enumerate() {
            text += text_tokens(&sent.text);
            audio_us += sent.audio_us;
            if let Some(done) = &sent.done {
                output.push(done.clone());
                continue;
            }
            let item = sent.partial_item();
            events.extend(sent.closing_events(&self.id, index, &item));
            if sent.in_conversation && !sent.closed("conversation.item.done") {
                events.push(
                    json!({ "type": "conversation.item.done", "previous_item_id": null,
                    "item": item }),
                );
            }
            events.push(
                json!({ "type": "response.output_item.done", "response_id": self.id,
                "output_index": index, "item": item }),
            );
            output.push(item);
        }
        let mut response = self.response.clone();
        response["status"] = json!("cancelled");
        response["status_details"] = json!({ "type": "cancelled", "reason": reason });
        response["output"] = Value::Array(output);
        response["usage"] = usage(text, audio_tokens(audio_us / 1000));
        events.push(json!({ "type": "response.done", "response": response }));
        events
    }
}

impl SentItem {
    fn closed(&self, ty: &str) -> bool {
        self.closed.iter().any(|c| c == ty)
    }

    /// The item as far as it went, `incomplete`.
    fn partial_item(&self) -> Value {
        let mut item = self.item.clone();
        if item.get("status").is_some() {
            item["status"] = json!("incomplete");
        }
        match item["type"].as_str() {
            Some("message") => {
                item["content"] = match self.part.as_deref() {
                    Some("audio") => json!([{ "type": "output_audio", "transcript": self.text }]),
                    Some(_) => json!([{ "type": "output_text", "text": self.text }]),
                    None => json!([]),
                };
            }
            Some("function_call" | "mcp_call") => item["arguments"] = json!(self.text),
            _ => {}
        }
        item
    }

    /// The `.done` events of the item's started parts not finished yet.
    fn closing_events(&self, response_id: &str, index: usize, item: &Value) -> Vec<Value> {
        let ids = json!({ "response_id": response_id, "item_id": item["id"],
            "output_index": index });
        let event = |ty: &str, fields: Value| {
            let mut v = ids.clone();
            v["type"] = json!(ty);
            if let (Some(v), Some(fields)) = (v.as_object_mut(), fields.as_object()) {
                v.extend(fields.clone());
            }
            v
        };
        let mut events = Vec::new();
        let mut close = |ty: &str, fields: Value| {
            if !self.closed(ty) {
                events.push(event(ty, fields));
            }
        };
        let at = json!({ "content_index": 0 });
        match (item["type"].as_str(), self.part.as_deref()) {
            (Some("message"), Some("audio")) => {
                close("response.output_audio.done", at.clone());
                close(
                    "response.output_audio_transcript.done",
                    json!({ "content_index": 0, "transcript": self.text }),
                );
                close(
                    "response.content_part.done",
                    json!({ "content_index": 0,
                        "part": { "type": "audio", "transcript": self.text } }),
                );
            }
            (Some("message"), Some(part)) => {
                close(
                    "response.output_text.done",
                    json!({ "content_index": 0, "text": self.text }),
                );
                close(
                    "response.content_part.done",
                    json!({ "content_index": 0, "part": { "type": part, "text": self.text } }),
                );
            }
            (Some("function_call"), _) => close(
                "response.function_call_arguments.done",
                json!({ "call_id": item["call_id"], "name": item["name"],
                    "arguments": self.text }),
            ),
            (Some("mcp_call"), _) => close(
                "response.mcp_call_arguments.done",
                json!({ "arguments": self.text }),
            ),
            _ => {}
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Running {
        let opening = vec![
            json!({ "type": "response.created", "response": { "id": "r", "status": "in_progress",
                "output": [], "conversation_id": "c" } }),
            json!({ "type": "rate_limits.updated", "rate_limits": [] }),
        ];
        Running::new("r".into(), true, opening, 500, Format::Pcm)
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn cancelled_before_it_was_announced_still_opens_then_ends_empty() {
        let events = running().cancel("client_cancelled");
        assert_eq!(
            types(&events),
            ["response.created", "rate_limits.updated", "response.done"]
        );
        let done = &events[2]["response"];
        assert_eq!(done["output"], json!([]));
        assert_eq!(done["usage"]["output_tokens"], 0);
    }

    #[test]
    fn only_started_parts_are_closed() {
        let mut r = running();
        for e in r.unsent_opening.clone() {
            r.observe(&e);
        }
        let item = json!({ "id": "i", "type": "message", "status": "in_progress",
            "role": "assistant", "content": [] });
        r.observe(
            &json!({ "type": "response.output_item.added", "output_index": 0,
            "item": item }),
        );
        let events = r.cancel("turn_detected");
        // No content part was added: no part events, no conversation.item.done.
        assert_eq!(
            types(&events),
            ["response.output_item.done", "response.done"]
        );
        assert_eq!(events[0]["item"]["status"], "incomplete");
        assert_eq!(events[0]["item"]["content"], json!([]));

        r.observe(
            &json!({ "type": "response.content_part.added", "item_id": "i",
            "part": { "type": "text", "text": "" } }),
        );
        r.observe(
            &json!({ "type": "response.output_text.delta", "item_id": "i",
            "delta": "Hel" }),
        );
        let events = r.cancel("turn_detected");
        assert_eq!(
            types(&events),
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.done"
            ]
        );
        assert_eq!(events[0]["text"], "Hel");
        assert_eq!(
            events[3]["response"]["output"][0]["content"][0]["text"],
            "Hel"
        );
        assert_eq!(events[3]["response"]["usage"]["output_tokens"], 1);
    }
}
