//! Chainable setters for [`Session`], and constructors of the values they take, so a
//! common configuration needs no nested `Some(…)`.

use super::common::{AudioFormat, MaxOutputTokens, Modality, Voice};
use super::session::{
    AudioInput, AudioOutput, FunctionTool, NoiseReduction, NoiseReductionKind, Session,
    SessionAudio, Tool, ToolChoice, ToolChoiceMode, Transcription, TurnDetection,
};

/// Chainable setters. Each fills in the field of the same name (for audio settings, the
/// field under `audio.input` or `audio.output`), creating the parents it needs and
/// leaving every other field as it is.
///
/// ```
/// use vivavoce::realtime::Session;
/// use vivavoce::realtime::events::{Modality, SessionUpdate, Tool, VoiceName};
///
/// let session = Session::default()
///     .instructions("Answer in one sentence.")
///     .voice(VoiceName::Marin)
///     .output_modalities([Modality::Audio])
///     .input_transcription("gpt-4o-transcribe")
///     .push_to_talk()
///     .tools([Tool::function(
///         "get_weather",
///         "The weather in a city.",
///         serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
///     )]);
/// let json = serde_json::to_value(SessionUpdate::new(session)).unwrap();
/// assert_eq!(json["session"]["audio"]["output"]["voice"], "marin");
/// assert_eq!(json["session"]["audio"]["input"]["turn_detection"], serde_json::Value::Null);
/// ```
impl Session {
    /// Sets [`model`](Self::model), e.g. `gpt-realtime`.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the system [`instructions`](Self::instructions).
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Sets [`output_modalities`](Self::output_modalities): `[Modality::Audio]` (audio with
    /// a transcript) or `[Modality::Text]`.
    #[must_use]
    pub fn output_modalities(mut self, modalities: impl IntoIterator<Item = Modality>) -> Self {
        self.output_modalities = Some(modalities.into_iter().collect());
        self
    }

    /// Sets the voice, `audio.output.voice`: a [`VoiceName`](super::VoiceName) or a
    /// [`Voice`]. It cannot change once the model has spoken in the session.
    #[must_use]
    pub fn voice(mut self, voice: impl Into<Voice>) -> Self {
        self.output().voice = Some(voice.into());
        self
    }

    /// Sets the speaking speed, `audio.output.speed`: 0.25 to 1.5 (the API's default 1.0).
    #[must_use]
    pub fn speed(mut self, speed: f64) -> Self {
        self.output().speed = Some(speed);
        self
    }

    /// Sets the format of the audio you append, `audio.input.format`.
    #[must_use]
    pub fn input_format(mut self, format: AudioFormat) -> Self {
        self.input().format = Some(format);
        self
    }

    /// Sets the format of the audio the model sends, `audio.output.format`.
    #[must_use]
    pub fn output_format(mut self, format: AudioFormat) -> Self {
        self.output().format = Some(format);
        self
    }

    /// Sets voice activity detection, `audio.input.turn_detection`: a [`TurnDetection`],
    /// or `None` to send `null` and turn it off (see [`push_to_talk`](Self::push_to_talk)).
    #[must_use]
    pub fn turn_detection(mut self, turn_detection: impl Into<Option<TurnDetection>>) -> Self {
        self.input().turn_detection = Some(turn_detection.into());
        self
    }

    /// Turns voice activity detection off (`audio.input.turn_detection: null`): the
    /// client commits the input buffer and asks for responses itself.
    #[must_use]
    pub fn push_to_talk(self) -> Self {
        self.turn_detection(None)
    }

    /// Turns on transcription of the input audio, `audio.input.transcription`: a model
    /// name such as `gpt-4o-transcribe`, or a [`Transcription`].
    #[must_use]
    pub fn input_transcription(mut self, transcription: impl Into<Transcription>) -> Self {
        self.input().transcription = Some(Some(transcription.into()));
        self
    }

    /// Turns on server-side noise reduction, `audio.input.noise_reduction`, tuned for
    /// this kind of microphone.
    #[must_use]
    pub fn noise_reduction(mut self, kind: NoiseReductionKind) -> Self {
        self.input().noise_reduction = Some(Some(NoiseReduction { kind }));
        self
    }

    /// Sets the [`tools`](Self::tools) the model may call.
    #[must_use]
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.tools = Some(tools.into_iter().collect());
        self
    }

    /// Sets [`tool_choice`](Self::tool_choice): a [`ToolChoiceMode`] or a [`ToolChoice`].
    #[must_use]
    pub fn tool_choice(mut self, choice: impl Into<ToolChoice>) -> Self {
        self.tool_choice = Some(choice.into());
        self
    }

    /// Sets [`max_output_tokens`](Self::max_output_tokens) of one response.
    #[must_use]
    pub fn max_output_tokens(mut self, max: MaxOutputTokens) -> Self {
        self.max_output_tokens = Some(max);
        self
    }

    fn input(&mut self) -> &mut AudioInput {
        let audio = self.audio.get_or_insert_with(SessionAudio::default);
        audio.input.get_or_insert_with(AudioInput::default)
    }

    fn output(&mut self) -> &mut AudioOutput {
        let audio = self.audio.get_or_insert_with(SessionAudio::default);
        audio.output.get_or_insert_with(AudioOutput::default)
    }
}

impl Transcription {
    /// Transcription with this model, e.g. `gpt-4o-transcribe` or `whisper-1`.
    pub fn new(model: impl Into<String>) -> Self {
        Transcription {
            model: Some(model.into()),
            ..Default::default()
        }
    }

    /// Sets the input [`language`](Self::language) (ISO-639-1, e.g. `en`).
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets a [`prompt`](Self::prompt) to guide the transcription.
    #[must_use]
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }
}

/// Transcription with the named model.
impl From<&str> for Transcription {
    fn from(model: &str) -> Self {
        Transcription::new(model)
    }
}

/// Transcription with the named model.
impl From<String> for Transcription {
    fn from(model: String) -> Self {
        Transcription::new(model)
    }
}

impl Tool {
    /// A function tool: its name, when to call it, and a JSON Schema of its arguments.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Tool::Function(FunctionTool {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters),
        })
    }
}

impl From<ToolChoiceMode> for ToolChoice {
    fn from(mode: ToolChoiceMode) -> Self {
        ToolChoice::Mode(mode)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::{ClientEvent, SessionUpdate, VoiceName};
    use super::*;

    fn wire(session: Session) -> Value {
        serde_json::to_value(ClientEvent::from(SessionUpdate::new(session))).unwrap()
    }

    #[test]
    fn push_to_talk_sends_an_explicit_null() {
        let expected = json!({"type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": null}}}});
        assert_eq!(wire(Session::default().push_to_talk()), expected);
        assert_eq!(wire(Session::default().turn_detection(None)), expected);
    }

    #[test]
    fn turn_detection_and_transcription_are_typed() {
        let session = Session::default()
            .turn_detection(TurnDetection::semantic_vad())
            .input_transcription(
                Transcription::new("whisper-1")
                    .language("en")
                    .prompt("Names: Ada"),
            )
            .noise_reduction(NoiseReductionKind::FarField);
        assert_eq!(
            wire(session)["session"],
            json!({"type": "realtime", "audio": {"input": {
                "turn_detection": {"type": "semantic_vad"},
                "transcription": {"model": "whisper-1", "language": "en", "prompt": "Names: Ada"},
                "noise_reduction": {"type": "far_field"}}}})
        );
    }

    #[test]
    fn a_full_configuration_is_the_ga_shape() {
        let session = Session::default()
            .model("gpt-realtime")
            .instructions("Answer in one sentence.")
            .voice(VoiceName::Marin)
            .speed(1.25)
            .output_format(AudioFormat::Pcmu)
            .input_format(AudioFormat::PCM_24K)
            .output_modalities([Modality::Audio])
            .input_transcription("gpt-4o-transcribe")
            .push_to_talk()
            .tools([Tool::function(
                "get_weather",
                "The weather in a city.",
                json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            )])
            .tool_choice(ToolChoiceMode::Required)
            .max_output_tokens(MaxOutputTokens::Inf);
        assert_eq!(
            wire(session.clone()),
            json!({"type": "session.update", "session": {
                "type": "realtime",
                "model": "gpt-realtime",
                "instructions": "Answer in one sentence.",
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": null
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.25}
                },
                "tools": [{"type": "function", "name": "get_weather",
                    "description": "The weather in a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "tool_choice": "required",
                "max_output_tokens": "inf"
            }})
        );
        // What the setters build is what the same JSON parses into.
        let back: Session =
            serde_json::from_value(wire(session.clone())["session"].clone()).unwrap();
        assert_eq!(back, session);
    }

    #[test]
    fn setters_keep_what_was_set_before() {
        let by_hand = Session {
            audio: Some(SessionAudio {
                input: Some(AudioInput {
                    turn_detection: Some(Some(TurnDetection::server_vad())),
                    ..Default::default()
                }),
                output: Some(AudioOutput {
                    voice: Some(Voice::Custom {
                        id: "voice_1".into(),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let session = by_hand.clone().speed(0.5).instructions("Hi");
        let audio = session.audio.as_ref().unwrap();
        assert_eq!(audio.input, by_hand.audio.as_ref().unwrap().input);
        let output = audio.output.as_ref().unwrap();
        assert_eq!(
            output.voice,
            Some(Voice::Custom {
                id: "voice_1".into()
            })
        );
        assert_eq!(output.speed, Some(0.5));
        // A later call replaces an earlier one.
        let session = session
            .push_to_talk()
            .turn_detection(TurnDetection::server_vad());
        assert_eq!(
            wire(session)["session"]["audio"]["input"]["turn_detection"],
            json!({"type": "server_vad"})
        );
    }

    #[cfg(feature = "schema")]
    #[test]
    fn a_session_update_built_with_setters_passes_the_schema() {
        use crate::schema::{Side, Validator};
        let validator = Validator::shared().unwrap();
        let session = Session::default()
            .model("gpt-realtime")
            .instructions("Answer in one sentence.")
            .voice(VoiceName::Cedar)
            .speed(1.1)
            .output_modalities([Modality::Audio])
            .input_format(AudioFormat::PCM_24K)
            .output_format(AudioFormat::Pcma)
            .input_transcription(Transcription::new("gpt-4o-transcribe").language("en"))
            .noise_reduction(NoiseReductionKind::NearField)
            .push_to_talk()
            .tools([Tool::function(
                "get_weather",
                "The weather in a city.",
                json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            )])
            .tool_choice(ToolChoice::function("get_weather"))
            .max_output_tokens(MaxOutputTokens::Limit(512));
        validator.validate(Side::Client, &wire(session)).unwrap();
        let vad = Session::default().turn_detection(TurnDetection::semantic_vad());
        validator.validate(Side::Client, &wire(vad)).unwrap();
        // The check is real: a value out of range does not pass.
        let too_fast = wire(Session::default().speed(4.0));
        assert!(validator.validate(Side::Client, &too_fast).is_err());
    }
}
