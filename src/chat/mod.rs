//! A streaming chat engine (feature `chat`) for OpenAI-compatible endpoints and other
//! providers' own APIs.
//!
//! [`start_request`] sends a request and delivers [`ChatEvent`]s into a channel you own:
//! chunks as they arrive (raw SSE fields plus the parsed delta), then exactly one terminal
//! event — [`Complete`] (with why, and everything accumulated) or [`ChatError`] (with what
//! was received before) — and the channel closes. [`stream`] is the same as a pull-based
//! `Stream`, and [`complete`] waits for the whole answer. Backpressure, stopping, idle
//! timeouts, accumulation, parse errors and the HTTP client are set on [`ChatOptions`];
//! [`message`] builds the messages.
//!
//! Other wire formats are spoken natively and read as the same deltas, each chunk keeping
//! its provider's raw event: Anthropic's Messages API ([`Wire::Anthropic`]), Gemini's
//! `streamGenerateContent` ([`Wire::Gemini`]), Ollama's newline-delimited `/api/chat`
//! ([`Wire::Ollama`]) and OpenAI's Responses API ([`Wire::Responses`]); a [`Provider`]
//! picks its own.
//!
//! Providers and routing: a [`Provider`] and a model make a [`ChatConfig`]; a
//! [`ChatRouter`] holds named configs and sends a request to one, or down a list, retried
//! per a [`RetryPolicy`] and falling back **only before the first content** (never
//! delivering text twice). [`Error::kind`](crate::Error::kind) tells failures apart.
//! [`stream_chat`] takes [`Callbacks`] instead of a stream.
//!
//! To pass a request on to a browser: [`event_to_simplified_sse`] for any server, or
//! `ChatSse` (feature `axum`), an axum response that relays the events and writes
//! `[DONE]` exactly once.

mod accumulate;
mod answer;
mod anthropic;
mod anthropic_request;
mod callbacks;
mod choice;
mod complete;
mod content;
mod cost;
mod delta;
mod engine;
mod event;
mod fast_path;
mod framing;
#[doc(hidden)]
pub mod fuzz;
mod gemini;
mod gemini_event;
mod gemini_request;
pub mod message;
mod ollama;
mod ollama_request;
mod options;
mod out;
mod providers;
mod read;
#[cfg(feature = "axum")]
mod relay;
mod responses;
mod responses_request;
mod retry;
mod router;
mod scan;
mod sink;
mod sse;
mod stream;
mod wire;

pub use accumulate::{Accumulator, Choice, FinishReason, ToolCall};
pub use callbacks::{
    Callbacks, CancelHandle, IntoChatStream, collect, extract_content, stream_chat,
};
pub use complete::complete;
pub use content::{TokenLogprob, TopLogprob};
pub use cost::{ChatPrices, PriceTable};
pub use delta::{
    ChoiceDelta, Delta, DeltaError, DeltaErrorKind, FunctionDelta, ToolCallDelta, Usage,
};
pub use engine::{StopHandle, start_request};
pub use event::{Accumulated, ChatError, ChatEvent, Chunk, Complete, CompleteReason};
pub use message::Message;
pub use options::{Backpressure, ChatAuth, ChatOptions, OnParseError};
pub use out::{event_to_simplified_sse, format_sse_data, format_sse_done};
pub use providers::{
    AZURE_API_VERSION, AuthStyle, ChatConfig, EnvLookup, KeySource, Provider, process_env,
};
#[cfg(feature = "axum")]
pub use relay::{ChatSse, Relay};
pub use retry::{HOLD_MAX, RetryPolicy, stream_with_retry};
pub use router::{ChatRouter, Route};
pub use sse::{SseEvent, SseParser, TooLarge};
pub use stream::{ChatStream, stream};
pub use wire::{ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_VERSION, Wire};
