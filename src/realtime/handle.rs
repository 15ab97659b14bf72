//! The two halves a connection hands out: [`EventSender`] and [`EventReceiver`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::PollSender;

use super::driver::Driver;
use super::events::{ClientEvent, ServerEvent};
use super::options::{EventCheck, OutgoingHook};
use crate::Error;
use crate::inbox::InboxReceiver;

/// What the handles ask of the connection task.
pub(crate) enum Command {
    Send(Outgoing),
    Close(oneshot::Sender<()>),
}

/// A serialised event on its way out.
pub(crate) struct Outgoing {
    /// The JSON text, shared so a resend after a reconnect does not copy it.
    pub(crate) text: Utf8Bytes,
    /// The `session` object of a `session.update`, kept for replay after a reconnect.
    pub(crate) session: Option<Value>,
}

/// Counts bytes accepted by senders and not yet written by the task.
#[derive(Debug, Default)]
pub(crate) struct SendBudget {
    queued: AtomicUsize,
    limit: usize,
}

impl SendBudget {
    pub(crate) fn new(limit: usize) -> Self {
        SendBudget {
            queued: AtomicUsize::new(0),
            limit,
        }
    }

    /// Takes `n` bytes; one event is always let through when nothing is queued.
    fn acquire(&self, n: usize) -> Result<(), Error> {
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.limit {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::SendQueueFull {
                event_bytes: n,
                limit_bytes: self.limit,
            });
        }
        Ok(())
    }

    pub(crate) fn release(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
    }
}

struct SenderShared {
    budget: Arc<SendBudget>,
    /// The largest event the transport carries, `input_audio_buffer.append` aside (a
    /// WebRTC data channel's message size); `None`: no limit but the budget.
    max_event_bytes: Option<usize>,
    outgoing: Option<OutgoingHook>,
    check: Option<Arc<dyn EventCheck>>,
}

/// Sends [`ClientEvent`]s on a connection. Cheap to clone; also a [`futures_sink::Sink`].
///
/// Events are serialised on the caller's task and written in order by the connection's
/// task. `send` waits while the outgoing channel is full
/// ([`send_capacity`](super::ConnectOptions::send_capacity) events) and fails with
/// [`Error::SendQueueFull`] when more than
/// [`send_queue_bytes`](super::ConnectOptions::send_queue_bytes) are waiting (which
/// happens while reconnecting).
///
/// When every clone is dropped, or [`close`](Self::close) is called, the connection
/// sends close code 1000; the receiver ends after the server's last event. A
/// [`WeakEventSender`] ([`downgrade`](Self::downgrade)) does not keep the connection open.
///
/// # Lost connections
///
/// `send` returning `Ok` means the event was queued, not that it was written. If the
/// connection is then lost for good (no reconnect policy, or reconnecting gave up), the
/// final [`Disconnected`](super::events::Disconnected) event says how many queued events were
/// never written ([`unsent`](super::events::Disconnected::unsent)); with a reconnect policy they
/// are written on the new connection.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Command>,
    sink: PollSender<Command>,
    shared: Arc<SenderShared>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSender")
            .field("closed", &self.tx.is_closed())
            .finish_non_exhaustive()
    }
}

impl EventSender {
    pub(crate) fn new(
        tx: mpsc::Sender<Command>,
        budget: Arc<SendBudget>,
        outgoing: Option<OutgoingHook>,
        check: Option<Arc<dyn EventCheck>>,
    ) -> Self {
        EventSender {
            sink: PollSender::new(tx.clone()),
            tx,
            shared: Arc::new(SenderShared {
                budget,
                max_event_bytes: None,
                outgoing,
                check,
            }),
        }
    }

    /// Refuses events over `max` bytes ([`Error::EventTooLarge`]), appends aside (they
    /// go on an audio track).
    #[cfg(feature = "webrtc")]
    pub(crate) fn with_max_event_bytes(mut self, max: usize) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.max_event_bytes = Some(max);
        }
        self
    }

    /// Sends one event. Returns once it is queued for writing, not when it is written;
    /// waits while [`send_capacity`](super::ConnectOptions::send_capacity) events are
    /// already queued.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionClosed`] after the connection ended, [`Error::SendQueueFull`],
    /// [`Error::Serialize`], the check's error ([`Error::InvalidEvent`]) when one is set,
    /// and over WebRTC [`Error::EventTooLarge`] for an event one data channel message
    /// cannot carry.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it waits for a free slot first and only then serialises and queues
    /// the event, with no await in between. Dropped while waiting (in `select!` or
    /// `timeout`), it has queued nothing and holds nothing; the event is dropped.
    pub async fn send(&self, event: impl Into<ClientEvent>) -> Result<(), Error> {
        let permit = self
            .tx
            .reserve()
            .await
            .map_err(|_| Error::ConnectionClosed)?;
        if let Some(out) = self.prepare(event.into())? {
            permit.send(Command::Send(out));
        }
        Ok(())
    }

    #[cfg(feature = "audio")]
    /// Queues the event `make` builds if there is room now, without waiting; `Ok(false)`
    /// (and `make` not called) when the queue is full, so a thread can try again later.
    pub(crate) fn try_send_with(&self, make: impl FnOnce() -> ClientEvent) -> Result<bool, Error> {
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => return Ok(false),
            Err(mpsc::error::TrySendError::Closed(())) => return Err(Error::ConnectionClosed),
        };
        if let Some(out) = self.prepare(make())? {
            permit.send(Command::Send(out));
        }
        Ok(true)
    }

    /// A handle that does not keep the connection open; [`upgrade`](WeakEventSender::upgrade)
    /// it to send.
    pub fn downgrade(&self) -> WeakEventSender {
        WeakEventSender {
            tx: self.tx.downgrade(),
            shared: self.shared.clone(),
        }
    }

    /// Sends one event from a thread that is not running async code (a worker thread,
    /// say), waiting while the send queue is full.
    ///
    /// # Errors
    ///
    /// The same as [`send`](Self::send).
    ///
    /// # Panics
    ///
    /// If called from inside an async context (use `send` there).
    pub fn blocking_send(&self, event: impl Into<ClientEvent>) -> Result<(), Error> {
        let Some(out) = self.prepare(event.into())? else {
            return Ok(());
        };
        let n = out.text.len();
        self.tx.blocking_send(Command::Send(out)).map_err(|_| {
            self.shared.budget.release(n);
            Error::ConnectionClosed
        })
    }

    /// Asks the connection to close (code 1000) after the events already sent, and waits
    /// until the close frame is written. The receiver still gets the server's last events.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: once the request is queued the connection closes whether or not this
    /// future is still polled; dropped earlier, nothing was asked.
    pub async fn close(&self) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Close(done)).await.is_err() {
            return Ok(()); // Already closed.
        }
        let _ = wait.await;
        Ok(())
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Runs the hook, serialises, and takes the bytes from the budget.
    fn prepare(&self, event: ClientEvent) -> Result<Option<Outgoing>, Error> {
        let event = match &self.shared.outgoing {
            Some(hook) => match hook(event) {
                Some(e) => e,
                None => return Ok(None),
            },
            None => event,
        };
        let text = serde_json::to_string(&event).map_err(|e| Error::Serialize {
            event_type: event.event_type().to_owned(),
            message: e.to_string(),
        })?;
        if let Some(check) = &self.shared.check {
            check.outgoing(event.event_type(), &text)?;
        }
        if let Some(max) = self.shared.max_event_bytes
            && text.len() > max
            && event.event_type() != "input_audio_buffer.append"
        {
            return Err(Error::EventTooLarge {
                event_type: event.event_type().into(),
                size: text.len(),
                max,
            });
        }
        let session = match &event {
            ClientEvent::SessionUpdate(u) => serde_json::to_value(&u.session).ok(),
            ClientEvent::Raw(v) if event.event_type() == "session.update" => {
                v.get("session").cloned()
            }
            _ => None,
        };
        self.shared.budget.acquire(text.len())?;
        tracing::trace!(
            event_type = event.event_type(),
            bytes = text.len(),
            "sending"
        );
        Ok(Some(Outgoing {
            text: text.into(),
            session,
        }))
    }
}

/// A [`EventSender`] that does not keep the connection open, from
/// [`EventSender::downgrade`]: for tasks that send only while the user still holds the
/// session (playback's barge-in, say).
#[derive(Clone)]
pub struct WeakEventSender {
    tx: mpsc::WeakSender<Command>,
    shared: Arc<SenderShared>,
}

impl std::fmt::Debug for WeakEventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakEventSender").finish_non_exhaustive()
    }
}

impl WeakEventSender {
    /// A sender again, or `None` when every [`EventSender`] has been dropped (the
    /// connection is closing or closed).
    pub fn upgrade(&self) -> Option<EventSender> {
        let tx = self.tx.upgrade()?;
        Some(EventSender {
            sink: PollSender::new(tx.clone()),
            tx,
            shared: self.shared.clone(),
        })
    }
}

impl futures_sink::Sink<ClientEvent> for EventSender {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.sink
            .poll_reserve(cx)
            .map_err(|_| Error::ConnectionClosed)
    }

    fn start_send(mut self: Pin<&mut Self>, event: ClientEvent) -> Result<(), Error> {
        let Some(out) = self.prepare(event)? else {
            self.sink.abort_send();
            return Ok(());
        };
        let n = out.text.len();
        self.sink.send_item(Command::Send(out)).map_err(|_| {
            self.shared.budget.release(n);
            Error::ConnectionClosed
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.sink.close();
        Poll::Ready(Ok(()))
    }
}

/// Receives [`ServerEvent`]s, in the order the server sent them; also a
/// [`futures_core::Stream`].
///
/// Ends (`None`) after the server's last event once the connection closes. A connection
/// that is lost rather than closed ends with a local [`ServerEvent::Disconnected`]
/// carrying the error, so a close is never silent. Dropping the receiver discards
/// further events; the connection stays open while a sender lives.
#[derive(Debug)]
pub struct EventReceiver {
    source: Source,
    done: bool,
}

/// Where a receiver's events come from.
#[derive(Debug)]
enum Source {
    /// A connection, whose task the receiver may run itself (see `driver`).
    Inbox(InboxReceiver<ServerEvent>, Arc<Driver>),
    /// A task that passes events on one by one (playback's split, say).
    Channel(mpsc::Receiver<ServerEvent>),
}

impl EventReceiver {
    #[cfg_attr(
        not(any(feature = "audio", feature = "conversation")),
        allow(dead_code)
    )]
    pub(crate) fn new(rx: mpsc::Receiver<ServerEvent>) -> Self {
        EventReceiver {
            source: Source::Channel(rx),
            done: false,
        }
    }

    pub(crate) fn from_connection(rx: InboxReceiver<ServerEvent>, driver: Arc<Driver>) -> Self {
        EventReceiver {
            source: Source::Inbox(rx, driver),
            done: false,
        }
    }

    /// The next event, or `None` once the connection has ended.
    ///
    /// While it waits, the connection's reading and parsing run on the caller's task
    /// (rather than handing each event over from another thread).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped before it completes, no event was taken.
    pub async fn recv(&mut self) -> Option<ServerEvent> {
        let _engaged = match &self.source {
            Source::Inbox(_, driver) => Some(driver.engage()),
            Source::Channel(_) => None,
        };
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ServerEvent>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = match &mut self.source {
            Source::Inbox(rx, driver) => {
                let mut ran = false;
                loop {
                    match rx.poll_recv(cx) {
                        Poll::Ready(Some(event)) => {
                            // Keep the connection going here if it has something to do
                            // (the receiver just made room, say).
                            driver.poll_if_woken();
                            break Poll::Ready(Some(event));
                        }
                        Poll::Ready(None) => break Poll::Ready(None),
                        // Nothing queued: run the connection here (once per poll: see
                        // `Driver::poll_connection`), or wait for it.
                        Poll::Pending if !ran && driver.register_receiver(cx.waker()) => {
                            ran = true;
                            driver.poll_if_woken();
                        }
                        Poll::Pending => break Poll::Pending,
                    }
                }
            }
            Source::Channel(rx) => rx.poll_recv(cx),
        };
        if let Poll::Ready(None) = polled {
            self.done = true;
        }
        polled
    }
}

impl futures_core::Stream for EventReceiver {
    type Item = ServerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerEvent>> {
        self.poll_recv(cx)
    }
}

impl futures_core::FusedStream for EventReceiver {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_limits_bytes_but_lets_one_event_through() {
        let b = SendBudget::new(10);
        b.acquire(25).unwrap(); // Nothing queued: a big event still goes.
        assert!(matches!(
            b.acquire(1),
            Err(Error::SendQueueFull {
                event_bytes: 1,
                limit_bytes: 10
            })
        ));
        b.release(25);
        b.acquire(6).unwrap();
        b.acquire(4).unwrap();
        assert!(b.acquire(1).is_err());
    }

    fn _assert_impls() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<EventSender>();
        send_sync::<WeakEventSender>();
        send_sync::<EventReceiver>();
    }
}
