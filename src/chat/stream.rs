//! The pull-based form: a `Stream` of [`ChatEvent`]s.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::engine::{StopHandle, start_request};
use super::event::ChatEvent;
use super::options::{Backpressure, ChatOptions};
use crate::Error;

/// The events of one request as a [`futures_core::Stream`]: chunks, then one terminal
/// event, then `None`. Dropping it stops the request.
///
/// It is a [`FusedStream`](futures_core::FusedStream): once it has yielded `None` it is
/// terminated and yields `None` again at once (for `select!` loops).
///
/// # Cancel safety
///
/// Waiting for the next event (`StreamExt::next`, a `select!` branch) is cancel-safe: an
/// event leaves the stream only when it is returned, so a wait that loses a `select!`
/// loses nothing.
#[derive(Debug)]
pub struct ChatStream {
    rx: mpsc::Receiver<ChatEvent>,
    stop: StopHandle,
    /// It has yielded `None`.
    done: bool,
}

/// Starts a streamed request and returns its events as a stream. Reading paces the
/// request (backpressure `Block`, 64 events of slack).
///
/// The request always streams: `options.stream` is set to `true` (a whole answer, with
/// `stream(false)`, is for [`start_request`]).
///
/// # Errors
///
/// As [`start_request`]: [`Error::InvalidOption`] for bad options,
/// [`Error::MissingApiKey`] without a key, [`Error::NoRuntime`] outside a tokio runtime —
/// all before any I/O. What goes wrong later arrives as [`ChatEvent::Error`].
///
/// ```no_run
/// use futures_util::StreamExt;
/// use serde_json::json;
/// use vivavoce::chat::{stream, ChatEvent, ChatOptions};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let mut events = stream(ChatOptions::new("gpt-4o-mini", vec![json!({"role": "user", "content": "Hi"})]))?;
/// while let Some(event) = events.next().await {
///     if let ChatEvent::Complete(done) = event {
///         println!("{}", done.result.content);
///     }
/// }
/// # Ok(()) }
/// ```
pub fn stream(options: ChatOptions) -> Result<ChatStream, Error> {
    let (tx, rx) = mpsc::channel(64);
    let stop = start_request(options.stream(true).backpressure(Backpressure::Block), tx)?;
    Ok(ChatStream {
        rx,
        stop,
        done: false,
    })
}

impl ChatStream {
    /// A stream over events another task sends (the router's).
    pub(super) fn from_parts(rx: mpsc::Receiver<ChatEvent>, stop: StopHandle) -> Self {
        ChatStream {
            rx,
            stop,
            done: false,
        }
    }

    /// Stops the request (the stream then ends with `Complete { reason: Stopped }`).
    pub fn stop(&self) {
        self.stop.stop();
    }
}

impl futures_core::Stream for ChatStream {
    type Item = ChatEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatEvent>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(self.rx.poll_recv(cx));
        self.done = next.is_none();
        Poll::Ready(next)
    }
}

impl futures_core::FusedStream for ChatStream {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

#[cfg(test)]
mod tests {
    /// The stream and its events can move between tasks and threads.
    fn _assert_impls() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::ChatStream>();
        send_sync::<super::ChatEvent>();
        send_sync::<crate::Error>();
    }
}
