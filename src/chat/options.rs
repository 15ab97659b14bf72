//! Options of a Chat Completions request.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::wire::Wire;
use super::{anthropic_request, gemini_request, ollama_request, responses_request};
use crate::Error;

const OPENAI_URL: &str = "https://api.openai.com/v1/chat/completions";

/// Each wire format's default `url`.
const DEFAULT_URLS: [(Wire, &str); 5] = [
    (Wire::OpenAI, OPENAI_URL),
    (Wire::Anthropic, "https://api.anthropic.com/v1/messages"),
    (
        Wire::Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
    ),
    (Wire::Ollama, "http://localhost:11434/api/chat"),
    (Wire::Responses, "https://api.openai.com/v1/responses"),
];

fn default_url(wire: Wire) -> &'static str {
    DEFAULT_URLS
        .iter()
        .find(|(w, _)| *w == wire)
        .map_or(OPENAI_URL, |(_, u)| u)
}

/// How the request authenticates.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ChatAuth {
    /// None given: `OPENAI_API_KEY` is used, and if it is not set the request fails
    /// before any I/O with [`Error::MissingApiKey`]. On the Anthropic wire,
    /// `ANTHROPIC_API_KEY` ([`Error::MissingProviderKey`] naming it).
    #[default]
    FromEnv,
    /// `Authorization: Bearer KEY` (on the Anthropic wire, `x-api-key: KEY`).
    ApiKey(String),
    /// A function giving the key for each request (rotating keys, vaults).
    KeyFn(Arc<dyn Fn() -> Option<String> + Send + Sync>),
    /// A whole `Authorization` header value, used as given.
    Header(String),
    /// The key, as is, in a header of this name instead of `Authorization` (Azure
    /// OpenAI's `api-key`).
    KeyHeader {
        /// The header's name, e.g. `api-key`.
        name: String,
        /// The key.
        key: String,
    },
}

impl std::fmt::Debug for ChatAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str(match self {
            ChatAuth::FromEnv => "FromEnv",
            ChatAuth::ApiKey(_) => "ApiKey(<redacted>)",
            ChatAuth::KeyFn(_) => "KeyFn",
            ChatAuth::Header(_) => "Header(<redacted>)",
            ChatAuth::KeyHeader { .. } => "KeyHeader(<redacted>)",
        })
    }
}

/// What to do when the consumer's channel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// Keep reading the response: events that do not fit wait in a queue of this many,
    /// delivered in order; a full queue ends the request with an error.
    Queue {
        /// Events that may wait.
        capacity: usize,
    },
    /// Wait for room in the channel, which slows reading the response (the server waits).
    Block,
}

impl Default for Backpressure {
    fn default() -> Self {
        Backpressure::Queue { capacity: 1000 }
    }
}

/// What to do with a chunk that is not valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnParseError {
    /// End the request with an error (what was received is kept in it). The default.
    #[default]
    Stop,
    /// Deliver the chunk with no parsed delta and go on.
    Continue,
}

/// A Chat Completions request.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `url` | `https://api.openai.com/v1/chat/completions` | any OpenAI-compatible endpoint |
/// | `model` | `gpt-4o-mini` | |
/// | `messages` | (required, non-empty) | the conversation, as JSON messages |
/// | `auth` | `OPENAI_API_KEY` | key, key function, or a whole `Authorization` header; none → error before I/O |
/// | `stream` | `true` | `true`: SSE, chunk by chunk; `false`: one whole answer, as one chunk ([`start_request`] only: [`stream`] always streams) |
/// | `accumulate` | `true` | add the chunks up for `Complete` |
/// | `backpressure` | `Queue { capacity: 1000 }` | see [`Backpressure`] |
/// | `channel_idle_timeout` | none | no event delivered for this long → `Complete` with reason `Timeout` (content kept); not zero, up to `Duration::MAX` |
/// | `http_timeout` | none | limit on the whole HTTP request; not zero, up to `Duration::MAX` |
/// | `include_usage` | `false` | ask for the usage chunk (`stream_options.include_usage`) |
/// | `on_parse_error` | `Stop` | see [`OnParseError`] |
/// | `max_event_bytes` | 4 MiB | one SSE event (or line, or whole non-streamed answer) larger than this is an error |
/// | `params` | empty | extra body fields (temperature, tools, n, …), merged in |
/// | `headers` | empty | extra request headers |
/// | `http_client` | shared | your own `reqwest::Client` (proxy, custom roots, a shared pool) |
/// | `allow_insecure` | `false` | allow a plain `http://` `url` to another machine (by default only `localhost`, `127.0.0.0/8` and `::1` may be `http://`: anything else is refused before any I/O with [`Error::InvalidOption`] naming the URL, since the key would cross the network unencrypted) |
/// | `wire` | `OpenAI` | [`Wire::Anthropic`]: Anthropic's Messages API (`x-api-key`, `ANTHROPIC_API_KEY`, `system` apart, `max_tokens` 1024 unless given in `params`; OpenAI `tools`, `tool_choice`, `stop`, tool calls and tool messages converted; `include_usage` is not needed) |
///
/// ```
/// use serde_json::json;
/// use vivavoce::chat::ChatOptions;
///
/// let options = ChatOptions::new("gpt-4o-mini", vec![json!({"role": "user", "content": "Hi"})])
///     .param("temperature", json!(0.2));
/// assert!(options.stream && options.accumulate);
/// ```
///
/// [`start_request`]: super::start_request
/// [`stream`]: super::stream()
#[derive(Clone)]
#[non_exhaustive]
#[must_use]
pub struct ChatOptions {
    /// The endpoint.
    pub url: String,
    /// The model.
    pub model: String,
    /// The messages.
    pub messages: Vec<Value>,
    /// Authentication.
    pub auth: ChatAuth,
    /// Stream the answer (SSE); `false`: one whole answer, as one chunk.
    pub stream: bool,
    /// Accumulate the chunks.
    pub accumulate: bool,
    /// When the channel is full.
    pub backpressure: Backpressure,
    /// Idle limit on delivering events.
    pub channel_idle_timeout: Option<Duration>,
    /// Limit on the HTTP request.
    pub http_timeout: Option<Duration>,
    /// Ask for usage.
    pub include_usage: bool,
    /// On a chunk that is not JSON.
    pub on_parse_error: OnParseError,
    /// Cap on one SSE event (one line on Ollama's wire, the whole answer when not streaming).
    pub max_event_bytes: usize,
    /// Extra body fields.
    pub params: Map<String, Value>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The HTTP client (connection pool, proxy, TLS settings). Default `None`: one shared
    /// client for every request.
    pub http_client: Option<reqwest::Client>,
    /// The wire format: Chat Completions (the default) or Anthropic Messages.
    pub wire: Wire,
    /// Allow a plain `http://` URL to another machine.
    pub allow_insecure: bool,
}

/// Header values are left out: they may hold a key.
impl std::fmt::Debug for ChatOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatOptions")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("messages", &self.messages)
            .field("auth", &self.auth)
            .field("stream", &self.stream)
            .field("accumulate", &self.accumulate)
            .field("backpressure", &self.backpressure)
            .field("channel_idle_timeout", &self.channel_idle_timeout)
            .field("http_timeout", &self.http_timeout)
            .field("include_usage", &self.include_usage)
            .field("on_parse_error", &self.on_parse_error)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("params", &self.params)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("http_client", &self.http_client.is_some())
            .field("wire", &self.wire)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            url: OPENAI_URL.into(),
            model: "gpt-4o-mini".into(),
            messages: Vec::new(),
            auth: ChatAuth::default(),
            stream: true,
            accumulate: true,
            backpressure: Backpressure::default(),
            channel_idle_timeout: None,
            http_timeout: None,
            include_usage: false,
            on_parse_error: OnParseError::default(),
            max_event_bytes: 4 << 20,
            params: Map::new(),
            headers: Vec::new(),
            http_client: None,
            wire: Wire::default(),
            allow_insecure: false,
        }
    }
}

macro_rules! setters {
    ($( $(#[$m:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        $( $(#[$m])* pub fn $name(mut self, value: $ty) -> Self { self.$name = value; self } )*
    };
}

impl ChatOptions {
    /// A request for `model` with `messages`.
    pub fn new(model: impl Into<String>, messages: Vec<Value>) -> Self {
        ChatOptions {
            model: model.into(),
            messages,
            ..ChatOptions::default()
        }
    }

    setters! {
        /// Sets `stream`.
        stream: bool,
        /// Sets `accumulate`.
        accumulate: bool,
        /// Sets `backpressure`.
        backpressure: Backpressure,
        /// Sets `include_usage`.
        include_usage: bool,
        /// Sets `on_parse_error`.
        on_parse_error: OnParseError,
        /// Sets `auth`.
        auth: ChatAuth,
        /// Sets `max_event_bytes`.
        max_event_bytes: usize,
        /// Sets `allow_insecure`.
        allow_insecure: bool,
    }

    /// Sets `url`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Sets `auth` to an API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.auth = ChatAuth::ApiKey(key.into());
        self
    }

    /// Sets `channel_idle_timeout`. Zero is refused when the request starts
    /// ([`Error::InvalidOption`]).
    pub fn channel_idle_timeout(mut self, d: Duration) -> Self {
        self.channel_idle_timeout = Some(d);
        self
    }

    /// Sets `http_timeout`. Zero is refused when the request starts
    /// ([`Error::InvalidOption`]).
    pub fn http_timeout(mut self, d: Duration) -> Self {
        self.http_timeout = Some(d);
        self
    }

    /// Adds a body field.
    pub fn param(mut self, key: impl Into<String>, value: Value) -> Self {
        self.params.insert(key.into(), value);
        self
    }

    /// Sets `http_client`: your own `reqwest::Client` (a proxy, custom roots, a pool
    /// shared with the rest of the app).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Sets `wire`. A `url` still at one wire's default moves to the new wire's
    /// (`https://api.anthropic.com/v1/messages` for Anthropic, Gemini's API root,
    /// `http://localhost:11434/api/chat` for Ollama, `…/v1/responses` for the Responses
    /// API).
    pub fn wire(mut self, wire: Wire) -> Self {
        if DEFAULT_URLS.iter().any(|(_, u)| *u == self.url) {
            self.url = default_url(wire).to_owned();
        }
        self.wire = wire;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Checks the options and builds the request (its URL, authentication header and
    /// body), before any I/O.
    pub(crate) fn prepare(&self) -> Result<Prepared, Error> {
        let bad = |option, message: &str| Error::InvalidOption {
            option,
            message: message.to_owned(),
        };
        if self.messages.is_empty() {
            return Err(bad("messages", "at least one message is needed"));
        }
        if let Backpressure::Queue { capacity: 0 } = self.backpressure {
            return Err(bad(
                "backpressure",
                "the queue needs a capacity of at least 1",
            ));
        }
        // A zero limit would end every request at once. (The largest, up to
        // `Duration::MAX`, work: deadlines saturate.)
        if self.channel_idle_timeout == Some(Duration::ZERO) {
            return Err(bad(
                "channel_idle_timeout",
                "a zero idle timeout would end the request at once; leave it unset for none",
            ));
        }
        if self.http_timeout == Some(Duration::ZERO) {
            return Err(bad(
                "http_timeout",
                "a zero timeout would end the request at once; leave it unset for none",
            ));
        }
        let url = self.endpoint();
        crate::url_check::check_encrypted(&url, self.allow_insecure, "url", "allow_insecure")?;
        Ok(Prepared {
            url,
            auth: self.auth_header()?,
            body: self.body(),
        })
    }

    /// The authentication header (name, value) the wire format wants, from `auth`.
    fn auth_header(&self) -> Result<Option<(String, String)>, Error> {
        let (var, header, bearer) = match self.wire {
            Wire::OpenAI | Wire::Responses => ("OPENAI_API_KEY", "authorization", true),
            Wire::Anthropic => ("ANTHROPIC_API_KEY", "x-api-key", false),
            Wire::Gemini => ("GEMINI_API_KEY", "x-goog-api-key", false),
            // Ollama needs no key; one given goes as a bearer token (a proxy in front).
            Wire::Ollama => ("", "authorization", true),
        };
        let missing = || match self.wire {
            Wire::OpenAI | Wire::Responses => Error::MissingApiKey,
            _ => Error::MissingProviderKey {
                provider: format!("{:?}", self.wire).to_lowercase(),
                var: var.to_owned(),
            },
        };
        let key = |k: Option<String>| k.filter(|k| !k.is_empty()).ok_or_else(missing);
        let value = |k: String| if bearer { format!("Bearer {k}") } else { k };
        let header = match &self.auth {
            ChatAuth::FromEnv if var.is_empty() => return Ok(None),
            ChatAuth::FromEnv => (header.to_owned(), value(key(std::env::var(var).ok())?)),
            ChatAuth::ApiKey(k) => (header.to_owned(), value(key(Some(k.clone()))?)),
            ChatAuth::KeyFn(f) => (header.to_owned(), value(key(f())?)),
            ChatAuth::Header(h) => ("authorization".to_owned(), key(Some(h.clone()))?),
            ChatAuth::KeyHeader { name, key: k } => {
                if name.is_empty() {
                    return Err(Error::InvalidOption {
                        option: "auth",
                        message: "the key header needs a name".to_owned(),
                    });
                }
                (name.clone(), key(Some(k.clone()))?)
            }
        };
        Ok(Some(header))
    }

    /// The URL the request goes to: `url`, or for Gemini the model's method under the
    /// API root `url` (unless `url` already names a method).
    fn endpoint(&self) -> String {
        if self.wire != Wire::Gemini
            || self.url.contains(":generateContent")
            || self.url.contains(":streamGenerateContent")
        {
            return self.url.clone();
        }
        let root = self.url.trim_end_matches('/');
        let model = self.model.strip_prefix("models/").unwrap_or(&self.model);
        if self.stream {
            format!("{root}/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("{root}/models/{model}:generateContent")
        }
    }

    /// The request body, in the wire format's shape.
    fn body(&self) -> Value {
        let (model, messages, stream, params) =
            (&self.model, &self.messages, self.stream, &self.params);
        match self.wire {
            Wire::OpenAI => self.openai_body(),
            Wire::Anthropic => anthropic_request::body(model, messages, stream, params),
            Wire::Gemini => gemini_request::body(model, messages, stream, params),
            Wire::Ollama => ollama_request::body(model, messages, stream, params),
            Wire::Responses => responses_request::body(model, messages, stream, params),
        }
    }

    fn openai_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.model.clone()));
        body.insert("messages".into(), Value::Array(self.messages.clone()));
        body.insert("stream".into(), Value::Bool(self.stream));
        if self.stream && self.include_usage {
            body.insert(
                "stream_options".into(),
                serde_json::json!({"include_usage": true}),
            );
        }
        for (k, v) in &self.params {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

/// A request ready to send. (No `Debug`: it holds the key.)
pub(crate) struct Prepared {
    pub(crate) url: String,
    /// The authentication header, if the wire format wants one.
    pub(crate) auth: Option<(String, String)>,
    pub(crate) body: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_elsewhere_is_refused_unless_allowed() {
        let messages = vec![serde_json::json!({"role": "user", "content": "Hi"})];
        let options = ChatOptions::new("m", messages)
            .api_key("sk-x")
            .url("http://10.0.0.7:8000/v1/chat/completions");
        match options.prepare() {
            Err(Error::InvalidOption {
                option: "url",
                message,
            }) => {
                assert!(message.contains("http://10.0.0.7:8000"), "{message}");
            }
            other => panic!("{:?}", other.map(|p| p.url)),
        }
        assert!(options.clone().allow_insecure(true).prepare().is_ok());
        let local = options.url("http://127.0.0.1:8000/v1/chat/completions");
        assert!(local.prepare().is_ok());
    }
}
