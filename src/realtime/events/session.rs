//! Session configuration and the session events: `session.update` (client),
//! `session.created` and `session.updated` (server).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::common::{AudioFormat, MaxOutputTokens, Modality, Voice, nullable, string_enum};

string_enum! {
    /// The kind of session: a conversation with the model, or transcription only.
    pub enum SessionKind {
        /// A speech-to-speech (or text) conversation with the model.
        Realtime = "realtime",
        /// Transcription of input audio only.
        Transcription = "transcription",
    }
}

// The enum comes from `string_enum!`, which cannot take `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for SessionKind {
    fn default() -> Self {
        SessionKind::Realtime
    }
}

/// A session's configuration: what `session.update` sends and what `session.created` /
/// `session.updated` report.
///
/// Every field is optional: in `session.update` a field left out keeps its current value.
/// Fields that can be *turned off* with an explicit `null` (`turn_detection`,
/// `transcription`, `noise_reduction`, `tracing`, `prompt`) are `Option<Option<T>>`:
/// `None` leaves them out, `Some(None)` sends `null`. The chainable setters
/// ([`instructions`](Self::instructions), [`voice`](Self::voice),
/// [`push_to_talk`](Self::push_to_talk), …) fill in the nested fields for you.
///
/// ```
/// use vivavoce::realtime::Session;
/// use vivavoce::realtime::events::{AudioInput, SessionAudio, VoiceName};
///
/// // Push-to-talk: turn server voice activity detection off.
/// let session = Session::default()
///     .instructions("Answer in one sentence.")
///     .voice(VoiceName::Marin)
///     .push_to_talk();
/// let json = serde_json::to_value(&session).unwrap();
/// assert_eq!(json["audio"]["input"]["turn_detection"], serde_json::Value::Null);
/// assert_eq!(json["audio"]["output"]["voice"], "marin");
/// assert_eq!(json["type"], "realtime");
///
/// // The same turn detection setting, by hand.
/// let by_hand = Session {
///     audio: Some(SessionAudio {
///         input: Some(AudioInput { turn_detection: Some(None), ..Default::default() }),
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
/// assert_eq!(by_hand, Session::default().push_to_talk());
/// ```
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `realtime` (the default) or `transcription`; required by `session.update`.
    #[serde(rename = "type", default)]
    pub kind: SessionKind,
    /// The session's id (server events only).
    pub id: Option<String>,
    /// Always `realtime.session` (server events only).
    pub object: Option<String>,
    /// Unix time at which the session expires (server events only).
    pub expires_at: Option<i64>,
    /// The model, e.g. `gpt-realtime`.
    pub model: Option<String>,
    /// `["audio"]` (the default: audio with a transcript) or `["text"]`.
    pub output_modalities: Option<Vec<Modality>>,
    /// The system instructions.
    pub instructions: Option<String>,
    /// Input and output audio settings.
    pub audio: Option<SessionAudio>,
    /// Extra fields to include in server events, e.g. `item.input_audio_transcription.logprobs`.
    pub include: Option<Vec<String>>,
    /// Tracing configuration: `"auto"` or an object; `Some(None)` turns tracing off.
    #[serde(default, deserialize_with = "nullable")]
    pub tracing: Option<Option<Value>>,
    /// The tools (functions, MCP servers) the model may call.
    pub tools: Option<Vec<Tool>>,
    /// How the model chooses tools.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools at once.
    pub parallel_tool_calls: Option<bool>,
    /// Reasoning settings for reasoning models, e.g. `{"effort": "low"}`.
    pub reasoning: Option<Value>,
    /// Maximum output tokens of one response.
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// How the conversation is truncated when it outgrows the context: `"auto"`,
    /// `"disabled"` or a retention-ratio object.
    pub truncation: Option<Value>,
    /// A stored prompt template reference; `Some(None)` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub prompt: Option<Option<Value>>,
    /// Fields this version does not model, kept and re-sent as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Audio settings of a session.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAudio {
    /// Microphone side: format, transcription, noise reduction, turn detection.
    pub input: Option<AudioInput>,
    /// Speaker side: format, voice, speed.
    pub output: Option<AudioOutput>,
}

/// Input audio settings.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInput {
    /// The format of `input_audio_buffer.append` audio (default PCM16 24 kHz).
    pub format: Option<AudioFormat>,
    /// Transcription of the input audio; `Some(None)` turns it off.
    #[serde(default, deserialize_with = "nullable")]
    pub transcription: Option<Option<Transcription>>,
    /// Server-side noise reduction; `Some(None)` turns it off.
    #[serde(default, deserialize_with = "nullable")]
    pub noise_reduction: Option<Option<NoiseReduction>>,
    /// Voice activity detection; `Some(None)` turns it off (push-to-talk).
    #[serde(default, deserialize_with = "nullable")]
    pub turn_detection: Option<Option<TurnDetection>>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Output audio settings.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioOutput {
    /// The format of `response.output_audio.delta` audio (default PCM16 24 kHz).
    pub format: Option<AudioFormat>,
    /// The voice; it cannot change once the model has spoken in the session.
    pub voice: Option<Voice>,
    /// Speaking speed, 0.25 to 1.5 (default 1.0).
    pub speed: Option<f64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Input audio transcription settings.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcription {
    /// The transcription model, e.g. `gpt-4o-transcribe` or `whisper-1`.
    pub model: Option<String>,
    /// The input language (ISO-639-1, e.g. `en`).
    pub language: Option<String>,
    /// A prompt to guide the transcription.
    pub prompt: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

string_enum! {
    /// The kind of microphone the noise reduction is tuned for.
    pub enum NoiseReductionKind {
        /// Close-talking microphones such as headsets.
        NearField = "near_field",
        /// Far-field microphones such as laptop or conference-room microphones.
        FarField = "far_field",
    }
}

/// Server-side input noise reduction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseReduction {
    /// What kind of microphone to tune for.
    #[serde(rename = "type")]
    pub kind: NoiseReductionKind,
}

/// Voice activity detection: when the server decides the user started and stopped talking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum TurnDetection {
    /// Detection from audio energy and silence.
    #[serde(rename = "server_vad")]
    ServerVad(ServerVad),
    /// Detection from a model that judges whether the user has finished.
    #[serde(rename = "semantic_vad")]
    SemanticVad(SemanticVad),
}

impl TurnDetection {
    /// Server VAD with the API's defaults.
    pub fn server_vad() -> Self {
        TurnDetection::ServerVad(ServerVad::default())
    }

    /// Semantic VAD with the API's defaults.
    pub fn semantic_vad() -> Self {
        TurnDetection::SemanticVad(SemanticVad::default())
    }
}

/// Server VAD settings; `None` leaves the API's default.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerVad {
    /// Activation threshold, 0.0 to 1.0 (default 0.5).
    pub threshold: Option<f64>,
    /// Audio kept before speech starts, in ms (default 300).
    pub prefix_padding_ms: Option<u32>,
    /// Silence that ends a turn, in ms (default 500).
    pub silence_duration_ms: Option<u32>,
    /// Whether a response is created when a turn ends (default true).
    pub create_response: Option<bool>,
    /// Whether speech interrupts a response in progress (default true).
    pub interrupt_response: Option<bool>,
    /// Time without speech after which the server commits the buffer and prompts the model.
    pub idle_timeout_ms: Option<u32>,
}

/// Semantic VAD settings; `None` leaves the API's default.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SemanticVad {
    /// `low`, `medium`, `high` or `auto` (default): how soon the model answers.
    pub eagerness: Option<String>,
    /// Whether a response is created when a turn ends (default true).
    pub create_response: Option<bool>,
    /// Whether speech interrupts a response in progress (default true).
    pub interrupt_response: Option<bool>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Tool {
    /// A function the application implements.
    #[serde(rename = "function")]
    Function(FunctionTool),
    /// A remote MCP server (fields as the API documents them).
    #[serde(rename = "mcp")]
    Mcp(Map<String, Value>),
    /// A tool type this version does not model.
    #[serde(untagged)]
    Other(Value),
}

/// A function the model may call; its arguments arrive in `response.function_call_arguments.*`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// The function's name.
    pub name: String,
    /// When and how to call it.
    pub description: Option<String>,
    /// A JSON Schema of the arguments.
    pub parameters: Option<Value>,
}

string_enum! {
    /// How the model chooses among tools.
    pub enum ToolChoiceMode {
        /// Never call a tool.
        None = "none",
        /// The model decides (the default).
        Auto = "auto",
        /// The model must call a tool.
        Required = "required",
    }
}

/// Which tool the model should use: a mode, or a specific function or MCP tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(ToolChoiceMode),
    /// A specific tool, e.g. `{"type": "function", "name": "get_weather"}`.
    Specific(Value),
}

impl ToolChoice {
    /// Force a call of the named function.
    pub fn function(name: &str) -> Self {
        ToolChoice::Specific(serde_json::json!({ "type": "function", "name": name }))
    }
}

/// `session.update` (client): change the session's configuration.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionUpdate {
    /// Optional client-chosen id, echoed in any `error` this event causes.
    pub event_id: Option<String>,
    /// The fields to change.
    pub session: Session,
}

impl SessionUpdate {
    /// A `session.update` with these fields to change.
    pub fn new(session: Session) -> Self {
        SessionUpdate {
            event_id: None,
            session,
        }
    }
}

super::server_event! {
    /// `session.created` (server): the first event of every connection.
    ///
    /// The session is boxed, as is the response in [`ResponseCreated`](super::ResponseCreated)
    /// and [`ResponseDone`](super::ResponseDone): these few events are rare and large, and
    /// inline they would make every [`ServerEvent`](super::ServerEvent) three times the
    /// size of an audio delta, a cost paid on each move and in each queue slot.
    pub struct SessionCreated {
        /// The session's full configuration.
        pub session: Box<Session>,
    }
}

super::server_event! {
    /// `session.updated` (server): the configuration after a `session.update`.
    pub struct SessionUpdated {
        /// The session's full configuration (boxed: see [`SessionCreated`]).
        pub session: Box<Session>,
    }
}
