//! The crate's one error type.

use std::sync::Arc;
use std::time::Duration;

mod http_error;

pub use http_error::{ApiError, HttpError};

/// A shared, clonable source error.
pub type BoxError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong, with kinds you can match.
///
/// Errors never contain the API key. `Error` is `Clone` (sources are shared), so it can
/// travel inside events such as [`Disconnected`](crate::realtime::events::Disconnected).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key in the options and `OPENAI_API_KEY` is not set. Raised before any I/O.
    #[error("no API key: pass one in the options or set OPENAI_API_KEY")]
    MissingApiKey,

    /// A provider's key was not given and its environment variable is not set (or is
    /// empty). Raised before any I/O.
    #[error("no API key for {provider}: set {var} or pass a key in its config")]
    MissingProviderKey {
        /// The provider, e.g. `Mistral`.
        provider: String,
        /// The environment variable to set, e.g. `MISTRAL_API_KEY`.
        var: String,
    },

    /// A chat router has no config of this name.
    #[error("no chat config named `{name}`; known: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownConfig {
        /// The name asked for.
        name: String,
        /// The names it knows, sorted.
        known: Vec<String>,
    },

    /// An option has a value that cannot work.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// The API answered an HTTP request (the WebSocket handshake, a client secret, a chat
    /// request) with an error status. The [`HttpError`] holds the status, the body, the
    /// API's parsed error object ([`Error::api_error`]) and the server's `Retry-After`
    /// ([`Error::retry_after`]).
    #[error("{0}")]
    Http(Box<HttpError>),

    /// The server could not be reached: refused, DNS, TLS, or a broken handshake.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// The URL that was requested.
        url: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// The connection failed after it was established (reset, protocol error, EOF).
    #[error("connection lost: {source}")]
    Transport {
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// The server closed the connection with this close code.
    #[error("server closed the connection (code {code}{})", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    Closed {
        /// The WebSocket close code, e.g. 1000 or 1011.
        code: u16,
        /// The close reason the server gave.
        reason: String,
    },

    /// The server sent nothing, not even a pong, within the pong timeout after a ping.
    #[error("no answer to a ping within {0:?}: the connection is dead")]
    PongTimeout(Duration),

    /// An operation took longer than its time limit.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// What timed out, e.g. "WebSocket handshake".
        operation: &'static str,
        /// The limit.
        after: Duration,
    },

    /// The connection is closed: nothing more can be sent.
    #[error("the connection is closed")]
    ConnectionClosed,

    /// Events waiting to be sent (typically during a reconnect) exceed the send queue's
    /// byte limit; the event was not queued.
    #[error(
        "send queue full: the event of {event_bytes} bytes would exceed the {limit_bytes}-byte limit"
    )]
    SendQueueFull {
        /// The size of the rejected event.
        event_bytes: usize,
        /// The configured limit.
        limit_bytes: usize,
    },

    /// Reconnecting was given up.
    #[error("reconnect gave up after {attempts} attempt(s): {last}")]
    ReconnectFailed {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },

    /// An event could not be serialised to JSON.
    #[error("could not serialise {event_type}: {message}")]
    Serialize {
        /// The event's type.
        event_type: String,
        /// The serialiser's message.
        message: String,
    },

    /// Data could not be decoded (base64 audio, a response body).
    #[error("could not decode {what}")]
    Decode {
        /// What could not be decoded, and where.
        what: &'static str,
    },

    /// A response body did not have the expected shape.
    #[error("unexpected response from {url}: {message}")]
    InvalidResponse {
        /// The URL that was requested.
        url: String,
        /// What did not parse, with its position.
        message: String,
    },

    /// An event broke its JSON Schema (feature `schema`): it was not sent.
    #[error("invalid {event_type} at `{instance_path}`: {message}")]
    InvalidEvent {
        /// The event's type.
        event_type: Box<str>,
        /// Where the first violation is (a JSON pointer; empty for the whole event).
        instance_path: Box<str>,
        /// Every violation, one per line: `/path: what is wrong (rule)`.
        message: String,
    },

    /// An event is larger than one message of its transport carries (a WebRTC data
    /// channel: 64 KiB): it was not sent.
    #[error("{event_type} is {size} bytes: more than the {max} bytes one message carries")]
    EventTooLarge {
        /// The event's type.
        event_type: Box<str>,
        /// The event's JSON size.
        size: usize,
        /// The most one message carries.
        max: usize,
    },

    /// The consumer of a chat request fell so far behind that its queue filled up
    /// (backpressure `Queue`): the request was ended to keep memory bounded.
    #[error(
        "the consumer fell {queued} events behind: raise the queue capacity, read faster, or use Backpressure::Block"
    )]
    ConsumerTooSlow {
        /// The queue's capacity.
        queued: usize,
    },

    /// No audio device to play to or record from.
    #[error(
        "no audio {direction} device{}: start an audio server (PipeWire or PulseAudio) or connect a device, \
         list the devices with `vivavoce::audio::devices()`, or use a WAV file instead",
        match name { Some(n) => format!(" named `{n}`"), None => String::new() }
    )]
    NoAudioDevice {
        /// `"output"` or `"input"`.
        direction: &'static str,
        /// The name that was asked for, if any.
        name: Option<String>,
    },

    /// An audio device refused or lost the stream.
    #[error("audio device `{device}`: {message}")]
    AudioDevice {
        /// The device's name.
        device: String,
        /// What went wrong (the audio backend's message).
        message: String,
    },

    /// The playback was stopped (by `Playback::stop`, by dropping it, or because its
    /// output failed) before the call could be answered (feature `audio`).
    #[error("playback has stopped")]
    PlaybackStopped,

    /// The capture has ended (stopped, its WAV file ended, or its device failed) before the
    /// call could be answered (feature `audio`).
    #[error("capture has ended")]
    CaptureEnded,

    /// A function that starts background work was called outside a tokio runtime.
    #[error("{function} must be called inside a tokio runtime")]
    NoRuntime {
        /// The function, e.g. `chat::start_request`.
        function: &'static str,
    },

    /// One of the embedded JSON Schemas (feature `schema`) did not compile.
    #[error("JSON Schema {name}: {message}")]
    InvalidSchema {
        /// The schema's event type.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// A WAV file could not be written or read.
    #[error("WAV file {}: {message}", path.display())]
    Wav {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// The HTTP status, for [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        self.http().map(|h| h.status)
    }

    /// The details of an [`Error::Http`].
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            Error::Http(h) => Some(h),
            Error::ReconnectFailed { last, .. } => last.http(),
            _ => None,
        }
    }

    /// The API's error object (`type`, `code`, `param`, `message`) when the server
    /// answered with one: an HTTP error whose body is `{"error": {…}}`.
    ///
    /// ```
    /// # fn check(e: &vivavoce::Error) {
    /// if let Some(api) = e.api_error() {
    ///     if api.code.as_deref() == Some("invalid_api_key") { /* ask for a new key */ }
    /// }
    /// # }
    /// ```
    pub fn api_error(&self) -> Option<&ApiError> {
        self.http().and_then(|h| h.api.as_ref())
    }

    /// How long the server asked to wait before trying again (`Retry-After`, or OpenAI's
    /// `retry-after-ms`), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.http().and_then(|h| h.retry_after)
    }

    /// Whether the same request, or a new connection, might succeed later: connection
    /// failures and losses, timeouts, a missed pong, close codes 1001, 1005, 1006,
    /// 1011–1013 and 1015, and HTTP 408, 409, 429 and 5xx, except a 429 for an exhausted
    /// quota (`insufficient_quota`). An error inside a successful answer is read by its
    /// `type` (Anthropic's `overloaded_error` is retryable), or by a numeric `code` as the
    /// status it stands for (OpenRouter's `{"error":{"code":502,…}}` in a 200 stream). A server's `x-should-retry` header decides over the
    /// status. Wait [`retry_after`](Self::retry_after) first when it is given.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::PongTimeout(_)
            | Error::Timeout { .. }
            | Error::Connect { .. } => true,
            Error::Closed { code, .. } => is_recoverable_close(*code),
            Error::Http(h) => h.is_retryable(),
            _ => false,
        }
    }

    /// What kind of failure this is, for handling (ask for a key, wait, fall back to
    /// another provider, report a bug). Retrying is decided by
    /// [`is_retryable`](Self::is_retryable) and [`retry_after`](Self::retry_after), which
    /// the kind does not replace.
    ///
    /// ```
    /// use vivavoce::{Error, ErrorKind};
    /// assert_eq!(Error::MissingApiKey.kind(), ErrorKind::Auth);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Http(h) => h.kind(),
            Error::MissingApiKey | Error::MissingProviderKey { .. } => ErrorKind::Auth,
            Error::InvalidOption { .. }
            | Error::UnknownConfig { .. }
            | Error::InvalidEvent { .. }
            | Error::EventTooLarge { .. }
            | Error::SendQueueFull { .. } => ErrorKind::InvalidRequest,
            Error::Timeout { .. } | Error::PongTimeout(_) => ErrorKind::Timeout,
            Error::Connect { .. }
            | Error::Transport { .. }
            | Error::Closed { .. }
            | Error::ConnectionClosed => ErrorKind::Connection,
            Error::Serialize { .. } | Error::Decode { .. } | Error::InvalidResponse { .. } => {
                ErrorKind::Parse
            }
            Error::PlaybackStopped | Error::CaptureEnded => ErrorKind::Cancelled,
            Error::ReconnectFailed { last, .. } => last.kind(),
            _ => ErrorKind::Other,
        }
    }

    /// The same as [`is_retryable`](Self::is_retryable).
    #[deprecated(since = "0.2.0", note = "use `is_retryable`")]
    pub fn is_recoverable(&self) -> bool {
        self.is_retryable()
    }

    pub(crate) fn transport(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Transport {
            source: Arc::new(e),
        }
    }
}

/// What kind of failure an [`Error`] is ([`Error::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No key, or the key was refused (HTTP 401).
    Auth,
    /// The key may not do this (HTTP 403).
    Permission,
    /// No such model, deployment or endpoint (HTTP 404).
    NotFound,
    /// Too many requests (HTTP 429): wait and try again.
    RateLimited,
    /// The account's quota or credit is used up (HTTP 429 `insufficient_quota`, HTTP 402,
    /// Anthropic's `billing_error`): waiting does not help.
    QuotaExceeded,
    /// A time limit passed (HTTP 408 too).
    Timeout,
    /// The server could not be reached, or the connection was lost.
    Connection,
    /// The server failed (HTTP 5xx, and Anthropic's 529 "overloaded").
    Server,
    /// The request or an option is wrong (HTTP 400, 422, a bad option, an unknown config).
    InvalidRequest,
    /// An answer did not parse.
    Parse,
    /// Stopped before it could finish.
    Cancelled,
    /// Anything else.
    Other,
}

/// Close codes after which reconnecting makes sense.
pub(crate) fn is_recoverable_close(code: u16) -> bool {
    matches!(code, 1001 | 1005 | 1006 | 1011 | 1012 | 1013 | 1015)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn recoverable_close_codes() {
        for code in [1001, 1005, 1006, 1011, 1012, 1013, 1015] {
            assert!(
                Error::Closed {
                    code,
                    reason: String::new()
                }
                .is_retryable(),
                "{code}"
            );
        }
        for code in [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4000] {
            assert!(
                !Error::Closed {
                    code,
                    reason: String::new()
                }
                .is_retryable(),
                "{code}"
            );
        }
        assert!(!Error::http_status(401, "u", String::new(), None).is_retryable());
    }
}
