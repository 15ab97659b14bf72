//! Options of the Realtime simulator.

use std::time::Duration;

/// How fast the simulator sends a response's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pace {
    /// 100 ms of audio every 100 ms, as the API does. The default.
    #[default]
    RealTime,
    /// Everything at once (for tests).
    Fast,
}

/// What the simulator does.
///
/// ```
/// use vivavoce::mock::{Pace, SimulatorOptions};
/// let options = SimulatorOptions::default().reply_text("Hi there!").pace(Pace::Fast);
/// assert_eq!(options.api_key.as_deref(), Some("sk-simulator"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct SimulatorOptions {
    /// The key clients must present (`Bearer` or `api-key`); default `sk-simulator`.
    /// `None` accepts any key.
    pub api_key: Option<String>,
    /// What the assistant says in each response; default a short greeting.
    pub reply_text: String,
    /// How fast audio is sent; default [`Pace::RealTime`].
    pub pace: Pace,
    /// Drop the TCP connection (no close frame) after this many server events; default never.
    pub drop_after_events: Option<usize>,
    /// Close with `(code, reason)` after this many server events; default never.
    pub close_after_events: Option<(usize, u16, String)>,
    /// Send the API's `session_expired` error and close (1000) this long after the
    /// connection opens; default never (the API's limit is 60 minutes).
    pub session_expires_after: Option<Duration>,
    /// What the user said, as input audio transcription reports it for each committed
    /// user audio item (when the session's `audio.input.transcription` is set); default
    /// `Hello there.`.
    pub input_transcript: String,
    /// Report every input audio transcription as failed
    /// (`conversation.item.input_audio_transcription.failed`); default `false`.
    pub fail_transcription: bool,
    /// Wait this long before a response's first event; default none.
    pub response_delay: Duration,
    /// Delay each response event by a random time up to this (order kept); default none.
    pub jitter: Duration,
    /// Functions (`name`, `arguments`) a response calls, in parallel, when it answers a
    /// user's turn (the conversation ends with a user message or user audio, or is
    /// empty); default none. A response that follows the outputs of those calls
    /// (`function_call_output` items) answers in words that quote each output. The
    /// arguments are sent as they are, so a script may give invalid JSON on purpose.
    pub function_calls: Vec<(String, String)>,
    /// An MCP tool call (`server_label`, tool `name`, `arguments`) that needs the client's
    /// approval; default `None`. A response to a user's turn asks for it with an
    /// `mcp_approval_request` item (this takes precedence over
    /// [`function_calls`](Self::function_calls)). Once the client adds its
    /// `mcp_approval_response` item and asks for a response, that response makes the
    /// `mcp_call` (output [`MCP_OUTPUT`](super::MCP_OUTPUT)) and says what it returned
    /// if approved, or says in words that the call was not approved.
    pub mcp_approval: Option<(String, String, String)>,
    /// Answer WebRTC offers (feature `webrtc`) with a candidate nobody listens on, so the
    /// peer connection never opens; default `false`.
    pub unreachable_candidate: bool,
    /// The audio codecs the simulator's peer accepts in an offer, best first (feature
    /// `webrtc`); default all of them. Without Opus here, a call falls back to G.711.
    #[cfg(feature = "webrtc")]
    pub call_codecs: Vec<crate::realtime::webrtc::CallCodec>,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            api_key: Some("sk-simulator".to_owned()),
            reply_text: "Hello! I am the vivavoce simulator. How can I help?".to_owned(),
            pace: Pace::RealTime,
            drop_after_events: None,
            close_after_events: None,
            session_expires_after: None,
            function_calls: Vec::new(),
            mcp_approval: None,
            input_transcript: "Hello there.".to_owned(),
            fail_transcription: false,
            response_delay: Duration::ZERO,
            jitter: Duration::ZERO,
            unreachable_candidate: false,
            #[cfg(feature = "webrtc")]
            call_codecs: crate::realtime::webrtc::CallCodec::ALL.to_vec(),
        }
    }
}

impl SimulatorOptions {
    /// Sets [`reply_text`](Self::reply_text).
    pub fn reply_text(mut self, text: impl Into<String>) -> Self {
        self.reply_text = text.into();
        self
    }

    /// Sets [`pace`](Self::pace).
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// Sets [`drop_after_events`](Self::drop_after_events).
    pub fn drop_after_events(mut self, n: usize) -> Self {
        self.drop_after_events = Some(n);
        self
    }

    /// Sets [`close_after_events`](Self::close_after_events).
    pub fn close_after_events(mut self, n: usize, code: u16, reason: impl Into<String>) -> Self {
        self.close_after_events = Some((n, code, reason.into()));
        self
    }

    /// Sets [`unreachable_candidate`](Self::unreachable_candidate).
    pub fn unreachable_candidate(mut self, yes: bool) -> Self {
        self.unreachable_candidate = yes;
        self
    }

    /// Sets [`call_codecs`](Self::call_codecs).
    #[cfg(feature = "webrtc")]
    pub fn call_codecs(
        mut self,
        codecs: impl IntoIterator<Item = crate::realtime::webrtc::CallCodec>,
    ) -> Self {
        self.call_codecs = codecs.into_iter().collect();
        self
    }

    /// Sets [`session_expires_after`](Self::session_expires_after).
    pub fn session_expires_after(mut self, after: Duration) -> Self {
        self.session_expires_after = Some(after);
        self
    }

    /// Adds a call to [`function_calls`](Self::function_calls): `arguments` as the model
    /// would stream them (normally JSON; sent verbatim even when not).
    pub fn function_call(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        self.function_calls.push((name.into(), arguments.into()));
        self
    }

    /// Sets [`mcp_approval`](Self::mcp_approval).
    pub fn mcp_approval(
        mut self,
        server_label: impl Into<String>,
        tool_name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        self.mcp_approval = Some((server_label.into(), tool_name.into(), arguments.into()));
        self
    }

    /// Sets [`input_transcript`](Self::input_transcript).
    pub fn input_transcript(mut self, text: impl Into<String>) -> Self {
        self.input_transcript = text.into();
        self
    }

    /// Sets [`fail_transcription`](Self::fail_transcription).
    pub fn fail_transcription(mut self, fail: bool) -> Self {
        self.fail_transcription = fail;
        self
    }

    /// Sets [`response_delay`](Self::response_delay).
    pub fn response_delay(mut self, delay: Duration) -> Self {
        self.response_delay = delay;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
}
