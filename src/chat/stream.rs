//! The pull-based form: a `Stream` of [`ChatEvent`]s.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::engine::{StopHandle, start};
use super::event::ChatEvent;
use super::options::{Backpressure, ChatOptions};
use super::sink::{INBOX_BYTES, INBOX_EVENTS, Sink};
use crate::Error;
use crate::inbox::{InboxReceiver, inbox};

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
    rx: Events,
    stop: StopHandle,
    /// It has yielded `None`.
    done: bool,
}

/// Where a stream's events come from.
#[derive(Debug)]
enum Events {
    /// The request task's bursts (or the router's), taken whole (see [`INBOX_EVENTS`]).
    Inbox(InboxReceiver<ChatEvent>),
    /// The request's channel, under an idle limit.
    Channel(mpsc::Receiver<ChatEvent>),
}

/// Starts a streamed request and returns its events as a stream. Reading paces the
/// request (backpressure `Block`): the request hands over what each read of the body
/// holds in one go, and holds at most 512 events or 1 MiB that the stream has not yet
/// yielded; when that is full it stops reading the body (the server then waits on TCP)
/// until the stream is read. With `channel_idle_timeout` set, events are handed over one
/// at a time through 64 events of slack, so that the limit counts from the last event
/// taken.
///
/// The request always streams: `options.stream` is set to `true` (a whole answer, with
/// `stream(false)`, is for [`start_request`](super::start_request)).
///
/// # Errors
///
/// As [`start_request`](super::start_request): [`Error::InvalidOption`] for bad options,
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
    let options = options.stream(true).backpressure(Backpressure::Block);
    let (sink, rx) = if options.channel_idle_timeout.is_some() {
        let (tx, rx) = mpsc::channel(64);
        (Sink::Channel(tx), Events::Channel(rx))
    } else {
        let (tx, rx) = inbox(INBOX_EVENTS, INBOX_BYTES);
        (Sink::Inbox(tx), Events::Inbox(rx))
    };
    let stop = start(options, sink)?;
    Ok(ChatStream {
        rx,
        stop,
        done: false,
    })
}

impl ChatStream {
    /// A stream over events another task publishes (the router's).
    pub(super) fn from_parts(rx: InboxReceiver<ChatEvent>, stop: StopHandle) -> Self {
        ChatStream {
            rx: Events::Inbox(rx),
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
        let next = std::task::ready!(match &mut self.rx {
            Events::Inbox(rx) => rx.poll_recv(cx),
            Events::Channel(rx) => rx.poll_recv(cx),
        });
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
