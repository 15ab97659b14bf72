//! Responses: creating them, sending their planned events in time, and cancelling them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::response;
use super::running::Running;
use super::script;
use super::session::{Queued, Session, Stop};
use super::voice;

impl Session {
    /// The response in progress in the default conversation.
    pub(super) fn default_response(&self) -> Option<&str> {
        self.responses
            .iter()
            .find(|r| r.in_conversation)
            .map(|r| r.id.as_str())
    }

    /// `response.create`: plans the response and queues its events. A response with
    /// `conversation: "none"` is out of band: it may run beside the default
    /// conversation's response, and its items stay out of the conversation.
    pub(super) async fn response_create(
        &mut self,
        event: &Value,
        cid: Option<&str>,
    ) -> Result<(), Stop> {
        let params = event.get("response").filter(|r| r.is_object());
        let field = |key: &str| params.and_then(|r| r.get(key));
        let in_conversation = field("conversation").and_then(Value::as_str) != Some("none");
        if in_conversation && let Some(active) = self.default_response() {
            let msg = format!(
                "Conversation already has an active response in progress: {active}. Wait until the response is finished before creating a new one."
            );
            return self
                .error("conversation_already_has_active_response", msg, None, cid)
                .await;
        }
        let audio = field("output_modalities")
            .or_else(|| self.config.get("output_modalities"))
            .and_then(Value::as_array)
            .is_none_or(|m| m.iter().any(|x| x == "audio"));
        let metadata = field("metadata").cloned().unwrap_or(Value::Null);
        // `input` replaces the conversation as what the response answers.
        let context: Vec<Value> = match field("input").and_then(Value::as_array) {
            Some(input) => input.iter().filter_map(|i| self.resolve(i)).collect(),
            None => self.items.iter().map(|i| i.item.clone()).collect(),
        };
        let response_id = self.id("resp");
        let options = self.options.clone();
        let outputs = script::reply(&options, &context, &mut |prefix| self.id(prefix));
        let format = self.format("output");
        let plan = response::Plan {
            response_id: &response_id,
            conversation_id: in_conversation.then_some("conv_sim"),
            metadata: &metadata,
            audio,
            pace: self.options.pace,
            format,
        };
        let mut planned = response::plan(&plan, &outputs);
        // Right after response.created, the limits with this response's tokens reserved.
        let limits = self.rate_limits.reserve(planned.total_tokens);
        planned
            .events
            .insert(1, (Duration::ZERO, response::Event::Json(limits)));
        let opening = planned.events[..2]
            .iter()
            .filter_map(|(_, e)| e.json().cloned())
            .collect();
        self.responses.push(Running::new(
            response_id.clone(),
            in_conversation,
            opening,
            planned.total_tokens,
            format,
        ));
        // Scripted latency: a delay before the first event, and jitter on each one that
        // never reorders them.
        let start = Instant::now() + options.response_delay;
        let mut last = start;
        let response: Arc<str> = response_id.as_str().into();
        for (at, event) in planned.events {
            let jitter = options.jitter.mul_f64(fastrand::f64());
            last = last.max(start + at + jitter);
            self.queue.push_back(Queued {
                at: last,
                response: response.clone(),
                event,
            });
        }
        Ok(())
    }

    /// An item of a response's `input`: an `item_reference` is the stored item it names
    /// (none if unknown); anything else is itself.
    fn resolve(&self, item: &Value) -> Option<Value> {
        if item["type"] != "item_reference" {
            return Some(item.clone());
        }
        let id = item["id"].as_str()?;
        self.items
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.item.clone())
    }

    /// `response.cancel`: the response named, or the default conversation's.
    pub(super) async fn response_cancel(
        &mut self,
        event: &Value,
        cid: Option<&str>,
    ) -> Result<(), Stop> {
        let target = match event.get("response_id").and_then(Value::as_str) {
            Some(id) => self
                .responses
                .iter()
                .any(|r| r.id == id)
                .then(|| id.to_owned()),
            None => self.default_response().map(str::to_owned),
        };
        let Some(id) = target else {
            let msg = "Cancellation failed: no active response found".into();
            return self
                .error("response_cancel_not_active", msg, None, cid)
                .await;
        };
        self.cancel(&id, "client_cancelled").await
    }

    /// Ends a response now: drops its queued events and sends the `.done` events of what
    /// it started, then `response.done` with status `cancelled`.
    pub(super) async fn cancel(&mut self, response_id: &str, reason: &str) -> Result<(), Stop> {
        self.queue.retain(|q| *q.response != *response_id);
        let Some(running) = self.responses.iter().find(|r| r.id == response_id) else {
            return Ok(());
        };
        for event in running.cancel(reason) {
            self.send_queued(response_id, event).await?;
        }
        Ok(())
    }

    /// Sends one of a response's events, keeping the conversation, the response's
    /// progress and the rate limits in step with it.
    pub(super) async fn send_queued(
        &mut self,
        response_id: &str,
        mut event: Value,
    ) -> Result<(), Stop> {
        match event["type"].as_str() {
            Some("response.output_audio.delta") => self.count_sent_audio(&event),
            Some("conversation.item.added" | "conversation.item.done") => {
                self.record_output_item(&mut event)
            }
            _ => {}
        }
        if let Some(at) = self.responses.iter().position(|r| r.id == response_id) {
            if event["type"] == "response.done" {
                let running = self.responses.remove(at);
                let used = event
                    .pointer("/response/usage/total_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                self.rate_limits.settle(running.reserved_tokens, used);
            } else {
                self.responses[at].observe(&event);
            }
        }
        self.emit(event).await
    }

    /// Adds an audio delta's length to its item, so truncation is checked against the
    /// audio actually sent (a cancelled response's item is shorter than planned).
    fn count_sent_audio(&mut self, delta: &Value) {
        let (Some(item_id), Some(b64)) = (delta["item_id"].as_str(), delta["delta"].as_str())
        else {
            return;
        };
        let us = voice::base64_duration_us(self.format("output"), b64);
        if let Some(item) = self.items.iter_mut().find(|i| i.id == item_id) {
            item.audio_us += us;
        }
    }
}
