//! Callbacks instead of a stream, and small helpers over streams and events.

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::event::{ChatError, ChatEvent, Complete};
use super::options::ChatOptions;
use super::stream::{ChatStream, stream};
use crate::Error;

/// What [`stream_chat`] calls: `on_token` for each piece of text as it comes, then
/// exactly one of `on_complete` (stopped or cancelled requests too, with their reason)
/// and `on_error`.
///
/// The callbacks run on a tokio worker thread: keep them short and never block in them
/// (send to a channel for slow work).
///
/// ```
/// use vivavoce::chat::Callbacks;
/// let callbacks = Callbacks::new()
///     .on_token(|t| print!("{t}"))
///     .on_complete(|done| println!("\n({:?})", done.reason))
///     .on_error(|e| eprintln!("{e}"));
/// # drop(callbacks);
/// ```
#[must_use]
pub struct Callbacks {
    on_token: Box<dyn FnMut(&str) + Send>,
    on_complete: Box<dyn FnOnce(Complete) + Send>,
    on_error: Box<dyn FnOnce(ChatError) + Send>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callbacks")
    }
}

impl Default for Callbacks {
    fn default() -> Self {
        Callbacks::new()
    }
}

impl Callbacks {
    /// Callbacks that do nothing.
    pub fn new() -> Self {
        Callbacks {
            on_token: Box::new(|_| {}),
            on_complete: Box::new(|_| {}),
            on_error: Box::new(|_| {}),
        }
    }

    /// Called with each chunk's text ([`Chunk::text`](super::Chunk::text), when not
    /// empty).
    pub fn on_token(mut self, f: impl FnMut(&str) + Send + 'static) -> Self {
        self.on_token = Box::new(f);
        self
    }

    /// Called once when the request completes (done, stopped, cancelled, timed out).
    pub fn on_complete(mut self, f: impl FnOnce(Complete) + Send + 'static) -> Self {
        self.on_complete = Box::new(f);
        self
    }

    /// Called once when the request fails.
    pub fn on_error(mut self, f: impl FnOnce(ChatError) + Send + 'static) -> Self {
        self.on_error = Box::new(f);
        self
    }
}

/// Something [`stream_chat`] can run: request options, or a stream already started
/// (from [`ChatRouter::stream`](super::ChatRouter::stream) or
/// [`stream_with_retry`](super::stream_with_retry)).
pub trait IntoChatStream {
    /// Starts the request, if it is not started.
    ///
    /// # Errors
    ///
    /// What starting the request refuses before any I/O.
    fn into_chat_stream(self) -> Result<ChatStream, Error>;
}

impl IntoChatStream for ChatOptions {
    fn into_chat_stream(self) -> Result<ChatStream, Error> {
        stream(self)
    }
}

impl IntoChatStream for ChatStream {
    fn into_chat_stream(self) -> Result<ChatStream, Error> {
        Ok(self)
    }
}

/// Cancels a [`stream_chat`] request: no more `on_token` calls, the request is stopped,
/// and `on_complete` follows with reason `Stopped` (or `on_error`, had it already failed).
/// Dropping the handle does not cancel.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    token: CancellationToken,
}

impl CancelHandle {
    /// Cancels the request.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Runs a request in the background and calls `callbacks` as it goes.
///
/// # Errors
///
/// Before any I/O: what [`stream`](super::stream()) refuses for options, and
/// [`Error::NoRuntime`] outside a tokio runtime. Later failures go to `on_error`.
pub fn stream_chat(
    source: impl IntoChatStream,
    callbacks: Callbacks,
) -> Result<CancelHandle, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::NoRuntime {
            function: "chat::stream_chat",
        });
    }
    let events = source.into_chat_stream()?;
    let token = CancellationToken::new();
    tokio::spawn(run(events, callbacks, token.clone()));
    Ok(CancelHandle { token })
}

async fn run(mut events: ChatStream, callbacks: Callbacks, token: CancellationToken) {
    let Callbacks {
        mut on_token,
        on_complete,
        on_error,
    } = callbacks;
    loop {
        let event = if token.is_cancelled() {
            events.next().await
        } else {
            tokio::select! {
                () = token.cancelled() => {
                    events.stop();
                    continue;
                }
                event = events.next() => event,
            }
        };
        let Some(event) = event else {
            // A stream always ends with a terminal event; without one, report it.
            on_error(ChatError {
                error: Error::transport(std::io::Error::other(
                    "the chat request ended without a terminal event",
                )),
                partial: Default::default(),
            });
            return;
        };
        match event {
            ChatEvent::Chunk(c) if !token.is_cancelled() => {
                if let Some(text) = c.text().filter(|t| !t.is_empty()) {
                    on_token(text);
                }
            }
            ChatEvent::Complete(done) => return on_complete(*done),
            ChatEvent::Error(e) => return on_error(*e),
            _ => {}
        }
    }
}

/// Collects a stream: its `Complete`, or its error. [`complete`](super::complete) is the
/// same for options; this is for a stream you already have (a router's).
///
/// # Errors
///
/// The request's [`ChatError`].
///
/// # Cancel safety
///
/// Cancel-safe: dropped before it completes, the stream is dropped, which stops the
/// request.
pub async fn collect(mut events: ChatStream) -> Result<Complete, ChatError> {
    while let Some(event) = events.next().await {
        match event {
            ChatEvent::Complete(done) => return Ok(*done),
            ChatEvent::Error(e) => return Err(*e),
            _ => {}
        }
    }
    Err(ChatError {
        error: Error::transport(std::io::Error::other(
            "the chat request ended without a terminal event",
        )),
        partial: Default::default(),
    })
}

/// The text an event adds to the answer: a chunk's [`text`](super::Chunk::text);
/// `None` for other events (the `Complete` holds the whole answer in `result.content`,
/// which is not returned here so that adding these up never counts text twice).
pub fn extract_content(event: &ChatEvent) -> Option<&str> {
    match event {
        ChatEvent::Chunk(c) => c.text(),
        _ => None,
    }
}
