//! The bounded queue from a connection's or request's task to its receiver (a realtime
//! [`EventReceiver`](crate::realtime::EventReceiver), a chat stream).
//!
//! The task publishes events in batches (what it could read from the socket without
//! waiting) and the receiver takes everything published in one go, so on a multi-thread
//! runtime the two threads wake each other once per batch rather than once per event.
//! The bound counts events and bytes (each event's [`Weigh::weight`]), including a batch
//! the receiver has taken and not yet handed out; a batch is published only when it fits,
//! or when nothing is held at all (so one oversized batch still gets through).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What an event counts against the byte bound: its text plus its in-memory size.
pub(crate) trait Weigh {
    fn weight(&self) -> usize;
}

/// A queue holding at most `max_events` events and `max_bytes` bytes (see the module).
pub(crate) fn inbox<T>(max_events: usize, max_bytes: usize) -> (InboxSender<T>, InboxReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            senders: 1,
            ..State::default()
        }),
        max_events: max_events.max(1),
        max_bytes,
    });
    (
        InboxSender {
            shared: shared.clone(),
        },
        InboxReceiver {
            shared,
            local: VecDeque::new(),
        },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    max_events: usize,
    max_bytes: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct State<T> {
    /// Published, not yet taken by the receiver.
    published: VecDeque<T>,
    published_bytes: usize,
    /// Taken by the receiver with its last refill (still held until its next one).
    taken_events: usize,
    taken_bytes: usize,
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
    senders: usize,
    receiver_gone: bool,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            published: VecDeque::new(),
            published_bytes: 0,
            taken_events: 0,
            taken_bytes: 0,
            receiver_waker: None,
            sender_waker: None,
            senders: 0,
            receiver_gone: false,
        }
    }
}

/// Replaces `slot` with the task's waker unless it already holds an equivalent one.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Events gathered by the task before they are published together.
pub(crate) struct Batch<T> {
    events: VecDeque<T>,
    bytes: usize,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            events: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T: Weigh> Batch<T> {
    pub(crate) fn push(&mut self, event: T) {
        self.bytes += event.weight();
        self.events.push_back(event);
    }
}

impl<T> Batch<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Bytes gathered so far (as counted against the bound).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }

    /// Takes the events out in order, keeping the storage.
    #[cfg(feature = "chat")]
    pub(crate) fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, T> {
        self.bytes = 0;
        self.events.drain(..)
    }
}

/// The task's end. Dropping the last one ends the receiver after what was published.
pub(crate) struct InboxSender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver was dropped; the batch was discarded.
#[derive(Debug)]
pub(crate) struct ReceiverGone;

/// Moves the batch into what is published and wakes the receiver, after releasing the
/// lock.
fn hand_over<T>(mut st: MutexGuard<'_, State<T>>, batch: &mut Batch<T>) {
    if st.published.is_empty() {
        // Hand the batch's storage over and keep the (empty) one published had.
        std::mem::swap(&mut st.published, &mut batch.events);
    } else {
        st.published.append(&mut batch.events);
    }
    st.published_bytes += std::mem::take(&mut batch.bytes);
    let wake = st.receiver_waker.take();
    drop(st);
    if let Some(w) = wake {
        w.wake();
    }
}

impl<T: Weigh> InboxSender<T> {
    /// Publishes the whole batch once it fits (see the module); `Err` (and the batch
    /// discarded) when the receiver is gone.
    pub(crate) fn poll_publish(
        &self,
        cx: &mut Context<'_>,
        batch: &mut Batch<T>,
    ) -> Poll<Result<(), ReceiverGone>> {
        let shared = &*self.shared;
        let mut st = shared.lock();
        if st.receiver_gone {
            drop(st);
            batch.clear();
            return Poll::Ready(Err(ReceiverGone));
        }
        let held_events = st.published.len() + st.taken_events;
        let held_bytes = st.published_bytes + st.taken_bytes;
        if held_events > 0
            && (held_events + batch.events.len() > shared.max_events
                || held_bytes + batch.bytes > shared.max_bytes)
        {
            register(&mut st.sender_waker, cx);
            return Poll::Pending;
        }
        hand_over(st, batch);
        Poll::Ready(Ok(()))
    }

    /// Waits for room and publishes the batch.
    pub(crate) async fn publish(&self, batch: &mut Batch<T>) -> Result<(), ReceiverGone> {
        poll_fn(|cx| self.poll_publish(cx, batch)).await
    }

    /// Publishes the batch whether or not it fits (for the last events of a connection).
    pub(crate) fn force(&self, batch: &mut Batch<T>) {
        if batch.is_empty() {
            return;
        }
        let st = self.shared.lock();
        if st.receiver_gone {
            drop(st);
            batch.clear();
            return;
        }
        hand_over(st, batch);
    }

    /// Waits for room and publishes one event; dropped if the receiver is gone.
    pub(crate) async fn send(&self, event: T) {
        let mut batch = Batch::default();
        batch.push(event);
        let _ = self.publish(&mut batch).await;
    }
}

impl<T> Clone for InboxSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        InboxSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for InboxSender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let wake = if st.senders == 0 {
            st.receiver_waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
    }
}

/// The receiver's end: hands out its taken batch one event at a time.
pub(crate) struct InboxReceiver<T> {
    shared: Arc<Shared<T>>,
    local: VecDeque<T>,
}

impl<T> InboxReceiver<T> {
    /// The next event; `None` once every sender is gone and everything was handed out.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.take(Some(cx))
    }

    /// The next event if one is ready now (`None` also when none is yet).
    #[cfg(feature = "chat")]
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        match self.take(None) {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }

    /// Hands out the next taken event, taking what was published when none is left;
    /// registers `cx` to be woken when nothing is published yet.
    fn take(&mut self, cx: Option<&mut Context<'_>>) -> Poll<Option<T>> {
        if let Some(event) = self.local.pop_front() {
            return Poll::Ready(Some(event));
        }
        let mut st = self.shared.lock();
        // Everything taken last time has been handed out: release it.
        st.taken_events = 0;
        st.taken_bytes = 0;
        let wake = st.sender_waker.take();
        let polled = if st.published.is_empty() {
            if st.senders == 0 {
                Poll::Ready(None)
            } else {
                if let Some(cx) = cx {
                    register(&mut st.receiver_waker, cx);
                }
                Poll::Pending
            }
        } else {
            std::mem::swap(&mut self.local, &mut st.published);
            st.taken_events = self.local.len();
            st.taken_bytes = std::mem::take(&mut st.published_bytes);
            Poll::Ready(self.local.pop_front())
        };
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
        polled
    }
}

impl<T> Drop for InboxReceiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver_gone = true;
        let published = std::mem::take(&mut st.published);
        st.published_bytes = 0;
        let wake = st.sender_waker.take();
        drop(st);
        drop(published);
        if let Some(w) = wake {
            w.wake();
        }
    }
}

impl<T> std::fmt::Debug for InboxReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxReceiver")
            .field("taken", &self.local.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// An event named `x.n` and weighing its name plus `n` bytes.
    struct Ev(String, usize);

    impl Weigh for Ev {
        fn weight(&self) -> usize {
            self.0.len() + self.1
        }
    }

    fn event(n: usize) -> Ev {
        Ev(format!("x.{n}"), n)
    }

    fn ids(rx: &mut InboxReceiver<Ev>) -> Vec<String> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(e)) = rx.poll_recv(&mut cx) {
            out.push(e.0);
        }
        out
    }

    #[test]
    fn batches_arrive_in_order_and_the_bound_holds_back_the_next() {
        let (tx, mut rx) = inbox(3, usize::MAX);
        let mut cx = Context::from_waker(Waker::noop());
        let mut batch = Batch::default();
        batch.push(event(1));
        batch.push(event(2));
        assert!(tx.poll_publish(&mut cx, &mut batch).is_ready());
        assert!(batch.is_empty());
        batch.push(event(3));
        batch.push(event(4));
        assert!(tx.poll_publish(&mut cx, &mut batch).is_pending(), "4 > 3");
        assert_eq!(ids(&mut rx), ["x.1", "x.2"]);
        // Handed out and released: the next batch fits.
        assert!(tx.poll_publish(&mut cx, &mut batch).is_ready());
        drop(tx);
        assert_eq!(ids(&mut rx), ["x.3", "x.4"]);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn bytes_bound_an_oversized_batch_passes_alone_and_a_dropped_receiver_discards() {
        let one = event(100).weight();
        let (tx, mut rx) = inbox(100, one);
        let mut cx = Context::from_waker(Waker::noop());
        let mut batch = Batch::default();
        batch.push(event(100));
        batch.push(event(100));
        assert!(batch.bytes() > one);
        assert!(
            tx.poll_publish(&mut cx, &mut batch).is_ready(),
            "nothing held"
        );
        batch.push(event(1));
        assert!(tx.poll_publish(&mut cx, &mut batch).is_pending());
        let mut first = Vec::new();
        if let Poll::Ready(Some(e)) = rx.poll_recv(&mut cx) {
            first.push(e);
        }
        // One of the two still held: still no room.
        assert!(tx.poll_publish(&mut cx, &mut batch).is_pending());
        drop(rx);
        assert!(matches!(
            tx.poll_publish(&mut cx, &mut batch),
            Poll::Ready(Err(ReceiverGone))
        ));
        assert!(batch.is_empty());
    }
}
