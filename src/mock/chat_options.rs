//! Options of the Chat Completions simulator: what it answers and which fault it injects.

use std::time::Duration;

/// A fault to inject into a request (every request, or one per attempt: see
/// [`ChatSimulatorOptions::faults`]). Each is written in the shape of the wire format
/// asked for (OpenAI's, Anthropic's, Gemini's, Ollama's or the Responses API's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChatFault {
    /// None: answer normally. The default.
    #[default]
    None,
    /// Answer with this HTTP status and the API's JSON error body; 429 adds
    /// `retry-after: 1` (and, on OpenAI's formats, `retry-after-ms: 1000`); 529 is
    /// Anthropic's overloaded.
    Status(u16),
    /// Answer 429 with an exhausted quota (`insufficient_quota`), no `retry-after`: not
    /// worth retrying.
    QuotaExceeded,
    /// Send the wire format's error event after this many chunks (OpenRouter's
    /// `{"error":{"code":502,…}}` in a 200 stream on OpenAI's format, Anthropic's `overloaded_error` event, Gemini's error object,
    /// Ollama's `{"error": …}` line, the Responses API's `error` event), then end the body.
    ErrorAfterChunks(usize),
    /// Close the connection after this many chunks, without `[DONE]`.
    DropAfterChunks(usize),
    /// Stop writing for this long after this many chunks, then go on.
    StallAfterChunks(usize, Duration),
    /// Send an event that is not JSON in place of this chunk (0-based), then go on:
    /// `data: {not json` in SSE, a `{not json` line in Ollama's lines.
    MalformedChunk(usize),
}

/// What the Chat Completions simulator answers.
///
/// ```
/// use vivavoce::mock::{ChatFault, ChatSimulatorOptions};
/// let options = ChatSimulatorOptions::default().reply_text("Hi!").fault(ChatFault::Status(429));
/// assert_eq!(options.chunk_count, None);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct ChatSimulatorOptions {
    /// The key clients must send as `Bearer`; default `sk-simulator`; `None` accepts any.
    pub api_key: Option<String>,
    /// The assistant's answer; streamed one word per chunk. Default a short greeting.
    pub reply_text: String,
    /// Stream exactly this many content chunks (the reply's words repeated); default
    /// `None`: one chunk per word.
    pub chunk_count: Option<usize>,
    /// Answer with a call of this function (`name`, JSON `arguments`) instead of text,
    /// its arguments split across chunks. Default `None`.
    pub tool_call: Option<(String, String)>,
    /// Send SSE comment lines (`: OPENROUTER PROCESSING`) before and between chunks.
    /// Default false.
    pub comments: bool,
    /// Write each chunk in two pieces, split inside a multi-byte UTF-8 character when the
    /// chunk has one. Default false.
    pub split_writes: bool,
    /// Pause between chunks; default none.
    pub chunk_delay: Duration,
    /// Frame the body as HTTP/1.1 chunked, one chunk per event, as local model servers
    /// do; default false: the body ends when the connection closes. (Chunked, a
    /// [`ChatFault::DropAfterChunks`] breaks the transfer instead of ending the body.)
    pub chunked: bool,
    /// A fault to inject; default [`ChatFault::None`].
    pub fault: ChatFault,
    /// Faults per request, in order: the first request gets `faults[0]`, the second
    /// `faults[1]`, and so on; requests after the list get [`fault`](Self::fault). For a
    /// retry or a fallback that meets a 429 first and an answer next. Default empty.
    pub faults: Vec<ChatFault>,
    /// Start each answer by saying how many user messages the request had and quoting
    /// the last one (`(user message 2) You said: "…". ` then [`reply_text`](Self::reply_text)),
    /// so a test can see the history sent. Default false.
    pub echo_user: bool,
    /// Answer every request with exactly this body, as `text/event-stream`, written as
    /// given (then the connection closes): a stream recorded or written from a
    /// provider's docs. Replaces the generated answer; the key is still checked and a
    /// [`ChatFault::Status`] still answers first. Default `None`.
    pub raw_stream: Option<String>,
}

impl Default for ChatSimulatorOptions {
    fn default() -> Self {
        ChatSimulatorOptions {
            api_key: Some("sk-simulator".to_owned()),
            reply_text: "Hello! I am the vivavoce simulator.".to_owned(),
            chunk_count: None,
            tool_call: None,
            comments: false,
            split_writes: false,
            chunk_delay: Duration::ZERO,
            chunked: false,
            fault: ChatFault::None,
            faults: Vec::new(),
            echo_user: false,
            raw_stream: None,
        }
    }
}

impl ChatSimulatorOptions {
    /// Sets [`reply_text`](Self::reply_text).
    pub fn reply_text(mut self, text: impl Into<String>) -> Self {
        self.reply_text = text.into();
        self
    }

    /// Sets [`chunk_count`](Self::chunk_count).
    pub fn chunk_count(mut self, n: usize) -> Self {
        self.chunk_count = Some(n);
        self
    }

    /// Sets [`tool_call`](Self::tool_call).
    pub fn tool_call(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        self.tool_call = Some((name.into(), arguments.into()));
        self
    }

    /// Sets [`comments`](Self::comments).
    pub fn comments(mut self, on: bool) -> Self {
        self.comments = on;
        self
    }

    /// Sets [`split_writes`](Self::split_writes).
    pub fn split_writes(mut self, on: bool) -> Self {
        self.split_writes = on;
        self
    }

    /// Sets [`chunked`](Self::chunked).
    pub fn chunked(mut self, on: bool) -> Self {
        self.chunked = on;
        self
    }

    /// Sets [`chunk_delay`](Self::chunk_delay).
    pub fn chunk_delay(mut self, d: Duration) -> Self {
        self.chunk_delay = d;
        self
    }

    /// Sets [`fault`](Self::fault).
    pub fn fault(mut self, fault: ChatFault) -> Self {
        self.fault = fault;
        self
    }

    /// Sets `faults`: one per request, in order.
    pub fn faults(mut self, faults: impl IntoIterator<Item = ChatFault>) -> Self {
        self.faults = faults.into_iter().collect();
        self
    }

    /// Sets [`raw_stream`](Self::raw_stream).
    ///
    /// ```
    /// use vivavoce::mock::ChatSimulatorOptions;
    /// let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
    /// let options = ChatSimulatorOptions::default().raw_stream(sse);
    /// assert_eq!(options.raw_stream.as_deref(), Some(sse));
    /// ```
    pub fn raw_stream(mut self, body: impl Into<String>) -> Self {
        self.raw_stream = Some(body.into());
        self
    }

    /// Sets [`echo_user`](Self::echo_user).
    pub fn echo_user(mut self, on: bool) -> Self {
        self.echo_user = on;
        self
    }
}
