//! Input audio transcription: when the session's `audio.input.transcription` is set, each
//! committed user audio item is "transcribed" into the scripted transcript, word by word.

use serde_json::{Value, json};

use super::session::{Session, Stop};
use super::usage::text_tokens;

impl Session {
    /// Sends the transcription events of the user audio item `item_id` (`audio_ms` long)
    /// if transcription is on: deltas then `completed`, or `failed` when scripted.
    pub(super) async fn transcribe(&mut self, item_id: &str, audio_ms: u64) -> Result<(), Stop> {
        let Some(model) = self
            .config
            .pointer("/audio/input/transcription")
            .filter(|t| t.is_object())
            .map(|t| t["model"].as_str().unwrap_or_default().to_owned())
        else {
            return Ok(());
        };
        if self.options.fail_transcription {
            let error = json!({ "type": "transcription_error", "code": "audio_unintelligible",
                "message": "Audio could not be transcribed.", "param": null });
            return self
                .emit(
                    json!({ "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id, "content_index": 0, "error": error }),
                )
                .await;
        }
        let transcript = self.options.input_transcript.clone();
        for word in transcript.split_inclusive(' ') {
            self.emit(
                json!({ "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id, "content_index": 0, "delta": word }),
            )
            .await?;
        }
        let usage = transcription_usage(&model, audio_ms, &transcript);
        self.emit(
            json!({ "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id, "content_index": 0, "transcript": transcript, "usage": usage }),
        )
        .await?;
        if let Some(stored) = self.items.iter_mut().find(|i| i.id == item_id)
            && let Some(part) = stored
                .item
                .pointer_mut("/content/0")
                .and_then(Value::as_object_mut)
        {
            part.insert("transcript".into(), json!(transcript));
        }
        Ok(())
    }
}

/// Usage as the model bills it: `whisper-1` by the second, the others by the token.
fn transcription_usage(model: &str, audio_ms: u64, transcript: &str) -> Value {
    if model == "whisper-1" {
        return json!({ "type": "duration", "seconds": audio_ms as f64 / 1000.0 });
    }
    // About ten audio tokens a second.
    let audio = audio_ms.div_ceil(100);
    let output = text_tokens(transcript);
    json!({ "type": "tokens", "input_tokens": audio, "output_tokens": output,
        "total_tokens": audio + output,
        "input_token_details": { "text_tokens": 0, "audio_tokens": audio } })
}
