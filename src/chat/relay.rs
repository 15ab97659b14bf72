//! Relaying a chat request to a browser as axum Server-Sent Events (feature `axum`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use tokio::sync::mpsc;

use super::engine::StopHandle;
use super::event::ChatEvent;
use super::out::{UPSTREAM_FAILED, simplified_json};
use super::stream::ChatStream;

/// What a [`ChatSse`] hook makes of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relay {
    /// Send the event's simplified form (see [`event_to_simplified_sse`]): `{"text": …}`
    /// for a chunk with something to show, nothing else for the end, a generic
    /// `{"error": …}` for a failure.
    ///
    /// [`event_to_simplified_sse`]: super::event_to_simplified_sse
    Default,
    /// Send this text as the event's `data` instead (several lines become several `data:`
    /// fields).
    Data(String),
    /// Send nothing for this event.
    Skip,
    /// End the response here: `[DONE]` is written and the upstream request is stopped.
    Stop,
}

type Hook = Box<dyn FnMut(&ChatEvent) -> Relay + Send>;

enum Source {
    Stream(ChatStream),
    Channel(mpsc::Receiver<ChatEvent>, StopHandle),
}

/// A chat request relayed to a browser: an axum response (or a `Stream` of SSE events for
/// [`Sse::new`]).
///
/// - Each chunk with something to show becomes `data: {"text": …}` (plus `role` and
///   `tool_calls` when present).
/// - `data: [DONE]` is written exactly once, last: after the request completes, after it
///   fails, when a hook says [`Relay::Stop`], and when the upstream ends without a
///   terminal event.
/// - A failure reaches the browser as `{"error":"the upstream request failed"}` only; its
///   details (status, upstream body, URL) are logged at `warn` on the server.
/// - A hook sees every event first and can replace, skip or stop it.
/// - Dropping it (the browser went away, the server shut down) stops the upstream request.
///
/// Defaults: no hook; a keep-alive comment after 15 s without an event (browsers and
/// proxies drop idle event streams).
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use serde_json::json;
/// use vivavoce::chat::{ChatEvent, ChatOptions, ChatSse, Relay, stream};
///
/// async fn chat() -> ChatSse {
///     let options = ChatOptions::new("gpt-4o-mini", vec![json!({"role": "user", "content": "Hi"})]);
///     match stream(options) {
///         Ok(events) => ChatSse::new(events).hook(|event| match event {
///             // Say nothing for chunks without text.
///             ChatEvent::Chunk(c) if c.text().is_none_or(str::is_empty) => Relay::Skip,
///             _ => Relay::Default,
///         }),
///         Err(e) => ChatSse::failed(&e),
///     }
/// }
///
/// # async fn run() {
/// let app: Router = Router::new().route("/chat", get(chat));
/// # let _ = app; }
/// ```
pub struct ChatSse {
    source: Option<Source>,
    hook: Option<Hook>,
    keep_alive: Option<Duration>,
    /// Events ready to go out (at most a failure's message and `[DONE]`).
    ready: VecDeque<Event>,
    done: bool,
}

impl fmt::Debug for ChatSse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSse")
            .field("hook", &self.hook.is_some())
            .field("keep_alive", &self.keep_alive)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ChatSse {
    /// Relays the events of [`stream`](super::stream).
    pub fn new(events: ChatStream) -> Self {
        Self::with_source(Some(Source::Stream(events)))
    }

    /// Relays the events of [`start_request`](super::start_request): its receiver, and its
    /// stop handle (used when the browser goes away or a hook stops).
    pub fn from_channel(events: mpsc::Receiver<ChatEvent>, stop: StopHandle) -> Self {
        Self::with_source(Some(Source::Channel(events, stop)))
    }

    /// A response for a request that could not start (bad options, no key): the browser
    /// gets the generic error and `[DONE]`; the error is logged.
    pub fn failed(error: &crate::Error) -> Self {
        tracing::warn!(%error, "chat request did not start; the browser is told only that it failed");
        let mut sse = Self::with_source(None);
        sse.ready.push_back(Event::default().data(UPSTREAM_FAILED));
        sse.finish();
        sse
    }

    fn with_source(source: Option<Source>) -> Self {
        ChatSse {
            source,
            hook: None,
            keep_alive: Some(Duration::from_secs(15)),
            ready: VecDeque::with_capacity(2),
            done: false,
        }
    }

    /// Sets a hook that sees each event before it is relayed and says what to do with it.
    pub fn hook(mut self, hook: impl FnMut(&ChatEvent) -> Relay + Send + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Sets the keep-alive interval (`None`: no keep-alive comments). Default 15 s.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self
    }

    /// Queues `[DONE]` (once) and lets go of the upstream.
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.ready.push_back(Event::default().data("[DONE]"));
            self.stop_upstream();
        }
    }

    fn stop_upstream(&mut self) {
        match self.source.take() {
            Some(Source::Stream(s)) => s.stop(),
            Some(Source::Channel(_, stop)) => stop.stop(),
            None => {}
        }
    }

    fn relay(&mut self, event: ChatEvent) {
        let relay = match &mut self.hook {
            Some(hook) => hook(&event),
            None => Relay::Default,
        };
        let terminal = !matches!(event, ChatEvent::Chunk(_));
        match relay {
            Relay::Stop => return self.finish(),
            Relay::Skip => {}
            Relay::Data(data) => self.ready.push_back(Event::default().data(data)),
            Relay::Default => match &event {
                ChatEvent::Chunk(c) => {
                    if let Some(json) = simplified_json(c) {
                        self.ready.push_back(Event::default().data(json));
                    }
                }
                ChatEvent::Error(e) => {
                    tracing::warn!(error = %e.error, "chat request failed; the browser is told only that it failed");
                    self.ready.push_back(Event::default().data(UPSTREAM_FAILED));
                }
                ChatEvent::Complete(_) => {}
            },
        }
        if terminal {
            self.finish();
        }
    }
}

impl Stream for ChatSse {
    type Item = Result<Event, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let next = match &mut this.source {
                Some(Source::Stream(s)) => Pin::new(s).poll_next(cx),
                Some(Source::Channel(rx, _)) => rx.poll_recv(cx),
                None => Poll::Ready(None),
            };
            match next {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(event)) => this.relay(event),
                // Ended without a terminal event: the browser still gets its `[DONE]`.
                Poll::Ready(None) => this.finish(),
            }
        }
    }
}

impl Drop for ChatSse {
    fn drop(&mut self) {
        self.stop_upstream();
    }
}

impl IntoResponse for ChatSse {
    fn into_response(self) -> Response {
        match self.keep_alive {
            Some(every) => Sse::new(self)
                .keep_alive(KeepAlive::new().interval(every))
                .into_response(),
            None => Sse::new(self).into_response(),
        }
    }
}
