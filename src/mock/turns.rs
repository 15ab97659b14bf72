//! Turns: creating and cancelling responses, and the server VAD that ends a user's turn.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::realtime::{Session, Stop, StoredItem};
use super::response::{self, Format};
use super::vad::{VadConfig, VadEvent};
use crate::realtime::codec;

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
        let conversation_id = "conv_sim".to_owned();
        let text = self.options.reply_text.clone();
        let call_id = self.id("call");
        let options = self.options.clone();
        let plan = response::Plan {
            response_id: &response_id,
            item_id: &item_id,
            conversation_id: &conversation_id,
            text: &text,
            audio,
            pace: self.options.pace,
            format: self.format("output"),
        };
        let planned = match &options.function_call {
            Some((name, arguments)) => response::plan_call(&plan, &call_id, name, arguments),
            None => response::plan(&plan),
        };
        // Scripted latency: a delay before the first event, and jitter on each one that
        // never reorders them.
        let start = Instant::now() + options.response_delay;
        let mut last = start;
        for (at, event) in planned.events {
            let jitter = options.jitter.mul_f64(fastrand::f64());
            last = last.max(start + at + jitter);
            self.queue.push_back((last, event));
        }
        self.items.push(StoredItem {
            id: item_id,
            item: planned.item,
            // Counted as its deltas are sent.
            audio_us: 0,
        });
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
}

/// Input audio as 24 kHz samples: PCM16 as it is, G.711 decoded and repeated ×3.
pub(super) fn to_pcm24(format: Format, bytes: &[u8]) -> Vec<i16> {
    let decode: fn(u8) -> i16 = match format {
        Format::Pcm => {
            return bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        Format::Pcmu => codec::ulaw_decode,
        Format::Pcma => codec::alaw_decode,
    };
    bytes.iter().flat_map(|&b| [decode(b); 3]).collect()
}
