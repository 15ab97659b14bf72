//! The input audio buffer and its transcription: `input_audio_buffer.append/commit/clear`
//! and `output_audio_buffer.clear` (client); `input_audio_buffer.*`,
//! `output_audio_buffer.*` and `conversation.item.input_audio_transcription.*` (server).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

/// `input_audio_buffer.append` (client): add audio to the input buffer.
///
/// ```
/// use vivavoce::realtime::events::InputAudioBufferAppend;
/// let append = InputAudioBufferAppend::from_pcm16(&[0, 1, -1]);
/// assert_eq!(append.audio, "AAABAP//");
/// ```
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputAudioBufferAppend {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
    /// Base64 audio in the session's input format (at most 15 MiB per event).
    pub audio: String,
}

impl InputAudioBufferAppend {
    /// Encodes 16-bit PCM samples (24 kHz mono for the default format) as the event's payload.
    pub fn from_pcm16(samples: &[i16]) -> Self {
        let mut bytes = Vec::with_capacity(samples.len() * 2);
        for s in samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        Self::from_bytes(&bytes)
    }

    /// Encodes raw bytes already in the session's input format (PCM16 LE, μ-law or A-law).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        InputAudioBufferAppend {
            event_id: None,
            audio: base64_simd::STANDARD.encode_to_string(bytes),
        }
    }
}

/// `input_audio_buffer.commit` (client): make the buffered audio a user message item.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputAudioBufferCommit {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
}

/// `input_audio_buffer.clear` (client): drop the buffered audio.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputAudioBufferClear {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
}

/// `output_audio_buffer.clear` (client, WebRTC and SIP only): stop the server's audio output.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputAudioBufferClear {
    /// Optional client-chosen id.
    pub event_id: Option<String>,
}

super::server_event! {
    /// `input_audio_buffer.committed` (server): the buffer became a user message item.
    pub struct InputAudioBufferCommitted {
        /// The item before the new one, `None` at the start.
        pub previous_item_id: Option<String>,
        /// The new user message item.
        pub item_id: String,
    }
}

super::server_event! {
    /// `input_audio_buffer.cleared` (server): the buffer was emptied.
    pub struct InputAudioBufferCleared {}
}

super::server_event! {
    /// `input_audio_buffer.speech_started` (server): voice activity detection heard speech.
    /// Playback should stop here (barge-in).
    pub struct InputAudioBufferSpeechStarted {
        /// Where speech started, in ms of audio written to the buffer this session.
        pub audio_start_ms: u64,
        /// The user message item that will hold this speech.
        pub item_id: String,
    }
}

super::server_event! {
    /// `input_audio_buffer.speech_stopped` (server): voice activity detection heard the end of speech.
    pub struct InputAudioBufferSpeechStopped {
        /// Where speech stopped, in ms of audio written this session.
        pub audio_end_ms: u64,
        /// The user message item that holds this speech.
        pub item_id: String,
    }
}

super::server_event! {
    /// `input_audio_buffer.timeout_triggered` (server): no speech for the idle timeout.
    pub struct InputAudioBufferTimeoutTriggered {
        /// Start of the committed audio, in ms.
        pub audio_start_ms: u64,
        /// End of the committed audio, in ms.
        pub audio_end_ms: u64,
        /// The item the audio was committed to.
        pub item_id: String,
    }
}

super::server_event! {
    /// `input_audio_buffer.dtmf_event_received` (server, SIP calls): a keypad tone arrived.
    pub struct InputAudioBufferDtmfEventReceived {
        /// The key: `0`–`9`, `*`, `#` or `A`–`D`.
        pub event: String,
        /// Unix time it was received.
        pub received_at: i64,
    }
}

super::server_event! {
    /// `output_audio_buffer.started` (server, WebRTC and SIP): the server began playing audio.
    pub struct OutputAudioBufferStarted {
        /// The response being played.
        pub response_id: String,
    }
}

super::server_event! {
    /// `output_audio_buffer.stopped` (server, WebRTC and SIP): the server finished playing audio.
    pub struct OutputAudioBufferStopped {
        /// The response that was played.
        pub response_id: String,
    }
}

super::server_event! {
    /// `output_audio_buffer.cleared` (server, WebRTC and SIP): the server's audio output was cleared.
    pub struct OutputAudioBufferCleared {
        /// The response whose audio was cleared.
        pub response_id: String,
    }
}

super::server_event! {
    /// `conversation.item.input_audio_transcription.completed` (server).
    pub struct InputAudioTranscriptionCompleted {
        /// The user message item.
        pub item_id: String,
        /// The audio content part.
        pub content_index: u32,
        /// The transcript.
        pub transcript: String,
        /// Detected languages, when reported.
        pub languages: Option<Value>,
        /// Log probabilities, when requested with `include`.
        pub logprobs: Option<Value>,
        /// Usage of the transcription model.
        pub usage: Option<Value>,
    }
}

super::server_event! {
    /// `conversation.item.input_audio_transcription.delta` (server): part of a transcript.
    pub struct InputAudioTranscriptionDelta {
        /// The user message item.
        pub item_id: String,
        /// The audio content part.
        pub content_index: Option<u32>,
        /// The new text.
        pub delta: Option<String>,
        /// Log probabilities, when requested with `include`.
        pub logprobs: Option<Value>,
        /// Padding the server may add to obscure payload sizes.
        pub obfuscation: Option<String>,
    }
}

/// Why a transcription failed.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TranscriptionError {
    /// The error's type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The error's code.
    pub code: Option<String>,
    /// A human-readable message.
    pub message: Option<String>,
    /// The parameter at fault.
    pub param: Option<String>,
}

super::server_event! {
    /// `conversation.item.input_audio_transcription.failed` (server).
    pub struct InputAudioTranscriptionFailed {
        /// The user message item.
        pub item_id: String,
        /// The audio content part.
        pub content_index: u32,
        /// What went wrong.
        pub error: TranscriptionError,
    }
}

super::server_event! {
    /// `conversation.item.input_audio_transcription.segment` (server): a diarized segment.
    pub struct InputAudioTranscriptionSegment {
        /// The user message item.
        pub item_id: String,
        /// The audio content part.
        pub content_index: u32,
        /// The segment's text.
        pub text: String,
        /// The segment's id.
        pub id: String,
        /// The speaker's label.
        pub speaker: String,
        /// Start, in seconds.
        pub start: f64,
        /// End, in seconds.
        pub end: f64,
    }
}
