//! One connection's server session: its state, the conversation items it remembers, and
//! how it sends events and errors.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::options::SimulatorOptions;
use super::response::Event;
use super::running::Running;
use super::usage::RateLimits;
use super::vad::Vad;
use super::voice::Format;
use super::wire::Wire;

/// A conversation item the simulator remembers.
pub(super) struct StoredItem {
    pub(super) id: String,
    pub(super) item: Value,
    /// Length of its audio in µs (for assistant items: as sent so far), for
    /// `conversation.item.truncate`.
    pub(super) audio_us: u64,
}

/// A response's event waiting for its time.
pub(super) struct Queued {
    pub(super) at: Instant,
    /// Its response's id (one copy for all of the response's events).
    pub(super) response: Arc<str>,
    pub(super) event: Event,
}

impl Queued {
    /// The event as it goes out.
    pub(super) fn into_event(self) -> Value {
        self.event.into_value()
    }
}

/// One connection's server session.
pub(super) struct Session {
    pub(super) wire: Wire,
    /// A session given with a call's offer, applied before `session.created`.
    pub(super) initial_session: Option<Value>,
    pub(super) options: Arc<SimulatorOptions>,
    pub(super) config: Value,
    pub(super) items: Vec<StoredItem>,
    /// Input audio appended and not committed, in 24 kHz samples.
    pub(super) buffer_samples: usize,
    /// Response events waiting for their time, in the order they go out.
    pub(super) queue: VecDeque<Queued>,
    /// Responses in progress.
    pub(super) responses: Vec<Running>,
    pub(super) rate_limits: RateLimits,
    pub(super) vad: Vad,
    /// The item the speech in progress will be committed to.
    pub(super) speech_item: Option<String>,
    pub(super) next_id: u64,
    pub(super) sent: usize,
}

/// The connection ends (the client left, or a scripted drop).
pub(super) struct Stop;

impl Session {
    pub(super) fn new(wire: Wire, options: Arc<SimulatorOptions>) -> Self {
        Session {
            wire,
            initial_session: None,
            options,
            config: json!({}),
            items: Vec::new(),
            buffer_samples: 0,
            queue: VecDeque::new(),
            responses: Vec::new(),
            rate_limits: RateLimits::default(),
            vad: Vad::default(),
            speech_item: None,
            next_id: 0,
            sent: 0,
        }
    }

    pub(super) fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_sim{:016}", self.next_id)
    }

    /// Sends one server event, with a fresh `event_id`.
    pub(super) async fn emit(&mut self, mut event: Value) -> Result<(), Stop> {
        drop_nulls(&mut event);
        let id = self.id("event");
        event["event_id"] = Value::String(id);
        let output = self.format("output");
        self.wire.send(&event, output).await.map_err(|_| Stop)?;
        self.sent += 1;
        if self.options.drop_after_events == Some(self.sent) {
            return Err(Stop); // Dropping the socket without a close frame.
        }
        if let Some((n, code, reason)) = self.options.close_after_events.clone()
            && n == self.sent
        {
            return self.close(code, &reason).await;
        }
        Ok(())
    }

    /// Closes with a close frame, ending the connection.
    pub(super) async fn close(&mut self, code: u16, reason: &str) -> Result<(), Stop> {
        self.wire.close(code, reason).await;
        Err(Stop)
    }

    pub(super) async fn error(
        &mut self,
        code: &str,
        message: String,
        param: Option<&str>,
        client_event_id: Option<&str>,
    ) -> Result<(), Stop> {
        let mut error = api_error("invalid_request_error", code, &message, param)["error"].clone();
        error["event_id"] = json!(client_event_id);
        self.emit(json!({ "type": "error", "error": error })).await
    }

    pub(super) async fn missing(&mut self, param: &str, cid: Option<&str>) -> Result<(), Stop> {
        let msg = format!("Missing required parameter: '{param}'.");
        self.error("missing_required_parameter", msg, Some(param), cid)
            .await
    }

    /// The session's `audio.input` or `audio.output` format.
    pub(super) fn format(&self, side: &str) -> Format {
        match self
            .config
            .pointer(&format!("/audio/{side}/format/type"))
            .and_then(Value::as_str)
        {
            Some("audio/pcmu") => Format::Pcmu,
            Some("audio/pcma") => Format::Pcma,
            _ => Format::Pcm,
        }
    }

    /// Stores an item (giving it an id) after `previous` (`"root"`: first; `None`: last)
    /// and announces it with `added` and `done`.
    pub(super) async fn add_item(
        &mut self,
        mut item: Value,
        audio_us: u64,
        previous: Option<&str>,
    ) -> Result<String, Stop> {
        let id = match item.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => self.id("item"),
        };
        item["id"] = json!(id);
        // Messages and function items carry these; MCP items do not.
        if matches!(
            item["type"].as_str(),
            Some("message" | "function_call" | "function_call_output")
        ) {
            item["object"] = json!("realtime.item");
            item["status"] = json!("completed");
        }
        let at = match previous {
            Some("root") => 0,
            Some(p) => self
                .items
                .iter()
                .position(|i| i.id == p)
                .map_or(self.items.len(), |i| i + 1),
            None => self.items.len(),
        };
        self.items.insert(
            at,
            StoredItem {
                id: id.clone(),
                item: item.clone(),
                audio_us,
            },
        );
        let previous = self.previous_of(&id);
        self.emit(json!({ "type": "conversation.item.added", "previous_item_id": previous, "item": item })).await?;
        self.emit(
            json!({ "type": "conversation.item.done", "previous_item_id": previous, "item": item }),
        )
        .await?;
        Ok(id)
    }

    /// The id of the item before `id` in the conversation (`None` for the first, or an
    /// item no longer there).
    pub(super) fn previous_of(&self, id: &str) -> Option<String> {
        let at = self.items.iter().position(|i| i.id == id)?;
        Some(self.items.get(at.checked_sub(1)?)?.id.clone())
    }

    /// Keeps the conversation in step with a response's `conversation.item.added` or
    /// `conversation.item.done` as it goes out: the item joins the conversation when
    /// added (so it follows whatever came in meanwhile), is replaced by its final form
    /// when done, and the event names the item before it.
    pub(super) fn record_output_item(&mut self, event: &mut Value) {
        let Some(id) = event.pointer("/item/id").and_then(Value::as_str) else {
            return;
        };
        let id = id.to_owned();
        let item = event["item"].clone();
        match self.items.iter_mut().find(|i| i.id == id) {
            Some(stored) => stored.item = item,
            // Added; for done, it was deleted meanwhile and stays deleted.
            None if event["type"] == "conversation.item.added" => self.items.push(StoredItem {
                id: id.clone(),
                item,
                // Counted as its audio deltas are sent.
                audio_us: 0,
            }),
            None => {}
        }
        event["previous_item_id"] = json!(self.previous_of(&id));
    }
}

/// An API error body: `{"error": {"message", "type", "code", "param"}}`.
pub(super) fn api_error(kind: &str, code: &str, message: &str, param: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "code": code, "param": param } })
}

/// Removes `null` fields the GA schemas do not allow (the API leaves such fields out or
/// sends `null` interchangeably); keeps those where `null` is part of the contract.
fn drop_nulls(v: &mut Value) {
    const NULLABLE: &[&str] = &[
        "previous_item_id",
        // Null for an out-of-band response, as the spec says.
        "conversation_id",
        "turn_detection",
        "param",
        "code",
        "event_id",
    ];
    match v {
        Value::Object(m) => {
            m.retain(|k, v| !v.is_null() || NULLABLE.contains(&k.as_str()));
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
