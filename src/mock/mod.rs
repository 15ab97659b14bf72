//! Offline simulators of the OpenAI APIs, on 127.0.0.1, for apps without the live API
//! and for tests.
//!
//! [`ChatSimulator`] serves Chat Completions, streaming (SSE) or not, with scriptable
//! faults: error statuses, drops, stalls, malformed chunks, comments, split UTF-8 — and
//! the same answer in Anthropic's, Gemini's, Ollama's and the Responses API's wire
//! formats, at each one's path.
//!
//! [`RealtimeSimulator`] speaks the GA Realtime WebSocket protocol: it checks the key,
//! answers every client event as the API does (including its error events), and streams
//! responses with synthesised speech at real-time pace. With turn detection on (the
//! default) it runs an energy-based server VAD over the appended audio: it reports speech
//! start and stop, interrupts a response in progress, commits the turn and responds.
//!
//! It keeps the conversation as the API does: every item names the one before it; a
//! cancelled response still finishes the items it started (status `incomplete`, with
//! what was sent); each response is followed by `rate_limits.updated` and reports its
//! usage; out-of-band responses (`conversation: "none"`) run beside the default one and
//! stay out of the conversation; committed user audio is transcribed when the session
//! asks for it. [`SimulatorOptions`] scripts the words, parallel function calls (and the
//! answer to their outputs), an MCP call awaiting approval, the user's transcript, and
//! faults.

#[cfg(feature = "webrtc")]
mod calls;
mod chat;
mod chat_anthropic;
mod chat_chunks;
mod chat_gemini;
mod chat_ollama;
mod chat_openai;
mod chat_options;
mod chat_reply;
mod chat_responses;
mod chat_wire;
mod options;
mod params;
mod realtime;
mod respond;
mod response;
mod running;
mod script;
mod server;
mod session;
mod transcription;
mod turns;
mod usage;
mod vad;
pub mod voice;
mod wire;

pub use chat::ChatSimulator;
pub use chat_options::{ChatFault, ChatSimulatorOptions};
pub use options::{Pace, SimulatorOptions};
pub use realtime::RealtimeSimulator;
pub use script::MCP_OUTPUT;
