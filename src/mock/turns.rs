//! Turns: the server VAD that ends a user's turn (and interrupts the response in
//! progress), and committing the input audio buffer.

use serde_json::{Value, json};

use super::session::{Session, Stop};
use super::vad::{VadConfig, VadEvent};
use super::voice;

impl Session {
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
                    // The start of speech first, then the response it interrupts ends:
                    // the order a client stopping playback on `speech_started` relies on.
                    let item_id = self.id("item");
                    self.speech_item = Some(item_id.clone());
                    self.emit(json!({ "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": audio_start_ms, "item_id": item_id }))
                        .await?;
                    if interrupt && let Some(id) = self.default_response() {
                        let id = id.to_owned();
                        self.cancel(&id, "turn_detected").await?;
                    }
                }
                VadEvent::Stopped { audio_end_ms } => {
                    let item_id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
                    self.emit(json!({ "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": audio_end_ms, "item_id": item_id }))
                        .await?;
                    self.commit(None, Some(item_id)).await?;
                    if respond && self.default_response().is_none() {
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
        let id = self.add_item(item, ms * 1000, None).await?;
        self.transcribe(&id, ms).await
    }
}
