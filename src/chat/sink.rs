//! Where the request task puts its events: a channel the caller owns, or the inbox of a
//! [`ChatStream`](super::ChatStream).

use tokio::sync::mpsc;

use super::event::ChatEvent;
use crate::inbox::{Batch, InboxSender, Weigh};

/// The events a stream's inbox holds at most: two full bursts of the request task, so it
/// can read on while the reader works through the last one.
pub(super) const INBOX_EVENTS: usize = 512;
/// The bytes (chunk text plus in-memory size) a stream's inbox holds at most.
pub(super) const INBOX_BYTES: usize = 1 << 20;

impl Weigh for ChatEvent {
    fn weight(&self) -> usize {
        std::mem::size_of::<ChatEvent>()
            + match self {
                ChatEvent::Chunk(c) => c.data.len(),
                _ => 0,
            }
    }
}

/// The request task's end of the way out.
pub(super) enum Sink {
    /// A caller's channel, one event at a time (any backpressure policy).
    Channel(mpsc::Sender<ChatEvent>),
    /// A stream's inbox: a whole burst at a time, so the reader is woken once per burst
    /// (only with `Backpressure::Block`, where nothing waits in the task's own queue).
    Inbox(InboxSender<ChatEvent>),
}

/// The receiver is gone.
pub(super) struct Gone;

impl Sink {
    /// Waits for room and sends one event.
    pub(super) async fn send(&self, ev: ChatEvent) -> Result<(), Gone> {
        match self {
            Sink::Channel(tx) => tx.send(ev).await.map_err(|_| Gone),
            Sink::Inbox(tx) => {
                let mut batch = Batch::default();
                batch.push(ev);
                tx.publish(&mut batch).await.map_err(|_| Gone)
            }
        }
    }

    /// Waits for room for one event (for the task's own queue, which only a channel has).
    pub(super) async fn reserve(&self) -> Result<mpsc::Permit<'_, ChatEvent>, Gone> {
        match self {
            Sink::Channel(tx) => tx.reserve().await.map_err(|_| Gone),
            Sink::Inbox(_) => std::future::pending().await,
        }
    }

    /// The channel, to wait for room for many events at once; `None` for an inbox (it
    /// takes a burst whole with [`InboxSender::publish`]).
    pub(super) fn channel(&self) -> Option<&mpsc::Sender<ChatEvent>> {
        match self {
            Sink::Channel(tx) => Some(tx),
            Sink::Inbox(_) => None,
        }
    }
}
