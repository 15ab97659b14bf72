//! Turns: creating and cancelling responses, the server VAD that ends a user's turn, and
//! committing the input audio buffer.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::response;
use super::session::{Session, Stop};
use super::vad::{VadConfig, VadEvent};
use super::voice;

impl Session {
    pub(super) async fn response_create(
        &mut self,
        event: &Value,
        cid: Option<&str>,
    ) -> Result<(), Stop> {
        if let Some(active) = &self.active_response {
            let msg = format!(
                "Conversation already has an active response in progress: {active}. Wait until the response is finished before creating a new one."
            );
            return self
                .error("conversation_already_has_active_response", msg, None, cid)
                .await;
        }
        let modalities = event
            .pointer("/response/output_modalities")
            .or_else(|| self.config.get("output_modalities"))
            .cloned()
            .unwrap_or(json!(["audio"]));
        let audio = modalities
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "audio"));
        let response_id = self.id("resp");
        let item_id = self.id("item");
        let options = self.options.clone();
        let kind = match &options.function_call {
            Some((name, arguments)) => response::Kind::Call {
                call_id: self.id("call"),
                name: name.clone(),
                arguments: arguments.clone(),
            },
            None => response::Kind::Message {
                text: self.options.reply_text.clone(),
            },
        };
        let plan = response::Plan {
            response_id: &response_id,
            conversation_id: "conv_sim",
            audio,
            pace: self.options.pace,
            format: self.format("output"),
        };
        let mut planned = response::plan(&plan, &[response::Output { item_id, kind }]);
        // Right after response.created, the limits with this response's tokens reserved.
        let limits = self.rate_limits.reserve(planned.total_tokens);
        planned.events.insert(1, (Duration::ZERO, limits));
        // Scripted latency: a delay before the first event, and jitter on each one that
        // never reorders them.
        let start = Instant::now() + options.response_delay;
        let mut last = start;
        for (at, event) in planned.events {
            let jitter = options.jitter.mul_f64(fastrand::f64());
            last = last.max(start + at + jitter);
            self.queue.push_back((last, event));
        }
        self.active_response = Some(response_id);
        Ok(())
    }

    pub(super) async fn response_cancel(&mut self, cid: Option<&str>) -> Result<(), Stop> {
        let Some(id) = self.active_response.take() else {
            let msg = "Cancellation failed: no active response found".into();
            return self
                .error("response_cancel_not_active", msg, None, cid)
                .await;
        };
        self.queue.clear();
        self.emit(response::cancelled(&id, "conv_sim", "client_cancelled"))
            .await
    }

    /// The server VAD settings, or `None` when turn detection is off (push-to-talk).
    fn vad_config(&self) -> Option<(VadConfig, &Value)> {
        let td = self
            .config
            .pointer("/audio/input/turn_detection")
            .filter(|v| v.is_object())?;
        let d = VadConfig::default();
        let ms = |key: &str, default: u64| td.get(key).and_then(Value::as_u64).unwrap_or(default);
        let config = VadConfig {
            threshold: td
                .get("threshold")
                .and_then(Value::as_f64)
                .unwrap_or(d.threshold),
            prefix_padding_ms: ms("prefix_padding_ms", d.prefix_padding_ms),
            silence_duration_ms: ms("silence_duration_ms", d.silence_duration_ms),
        };
        Some((config, td))
    }

    /// Runs the VAD over appended PCM16 and acts on what it hears, as the API does.
    pub(super) async fn detect_speech(&mut self, pcm: &[i16]) -> Result<(), Stop> {
        let Some((config, td)) = self.vad_config() else {
            return Ok(());
        };
        let flag = |key: &str| td.get(key).and_then(Value::as_bool).unwrap_or(true);
        let (interrupt, respond) = (flag("interrupt_response"), flag("create_response"));
        for event in self.vad.push(&config, pcm) {
            match event {
                VadEvent::Started { audio_start_ms } => {
                    if interrupt && let Some(id) = self.active_response.take() {
                        self.queue.clear();
                        self.emit(response::cancelled(&id, "conv_sim", "turn_detected"))
                            .await?;
                    }
                    let item_id = self.id("item");
                    self.speech_item = Some(item_id.clone());
                    self.emit(json!({ "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": audio_start_ms, "item_id": item_id }))
                        .await?;
                }
                VadEvent::Stopped { audio_end_ms } => {
                    let item_id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
                    self.emit(json!({ "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": audio_end_ms, "item_id": item_id }))
                        .await?;
                    self.commit(None, Some(item_id)).await?;
                    if respond && self.active_response.is_none() {
                        self.response_create(&json!({}), None).await?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn commit(
        &mut self,
        cid: Option<&str>,
        item_id: Option<String>,
    ) -> Result<(), Stop> {
        let ms = self.buffer_samples as u64 * 1000 / voice::RATE as u64;
        if ms < 100 {
            let msg = format!(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {ms:.2}ms of audio."
            );
            return self
                .error("input_audio_buffer_commit_empty", msg, None, cid)
                .await;
        }
        self.buffer_samples = 0;
        let id = item_id.unwrap_or_else(|| self.id("item"));
        let previous = self.items.last().map(|i| i.id.clone());
        self.emit(json!({ "type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": id }))
            .await?;
        let item = json!({ "id": id, "type": "message", "role": "user",
            "content": [{ "type": "input_audio", "transcript": null }] });
        self.add_item(item, ms * 1000, None).await.map(|_| ())
    }
}
