//! The crate's one error type.

use std::sync::Arc;
use std::time::Duration;

/// A shared, clonable source error.
pub type BoxError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong, with kinds you can match.
///
/// Errors never contain the API key. `Error` is `Clone` (sources are shared), so it can
/// travel inside events such as [`Disconnected`](crate::realtime::Disconnected).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key in the options and `OPENAI_API_KEY` is not set. Raised before any I/O.
    #[error("no API key: pass one in the options or set OPENAI_API_KEY")]
    MissingApiKey,

    /// An option has a value that cannot work.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// The server answered an HTTP request (the WebSocket handshake, or a REST call)
    /// with an error status. `body` is the server's answer, usually a JSON error object.
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        /// The HTTP status code, e.g. 401.
        status: u16,
        /// The response body as text.
        body: String,
        /// The URL that was requested.
        url: String,
    },

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
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a new connection might succeed where this one failed: transport loss,
    /// timeouts, and close codes 1001, 1005, 1006, 1011–1013 and 1015.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::PongTimeout(_)
            | Error::Timeout { .. }
            | Error::Connect { .. } => true,
            Error::Closed { code, .. } => is_recoverable_close(*code),
            Error::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    pub(crate) fn transport(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Transport {
            source: Arc::new(e),
        }
    }
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
                .is_recoverable(),
                "{code}"
            );
        }
        for code in [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4000] {
            assert!(
                !Error::Closed {
                    code,
                    reason: String::new()
                }
                .is_recoverable(),
                "{code}"
            );
        }
        assert!(
            !Error::Http {
                status: 401,
                body: String::new(),
                url: String::new()
            }
            .is_recoverable()
        );
    }
}
