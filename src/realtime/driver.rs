//! Where a connection's task runs.
//!
//! The task (reading, parsing, writing, pings, reconnects) is one future. A spawned tokio
//! task polls it, so the connection makes progress on its own; but while the receiver
//! waits in [`EventReceiver::recv`](super::EventReceiver::recv), wake-ups go to the
//! receiver instead, which polls the future itself. Events are then read, parsed and
//! handed out on one thread: on a multi-thread runtime, a frame costs the receiver one
//! wake-up (as reading the socket directly would) instead of one for the spawned task plus
//! one for the receiver. As soon as the receiver stops waiting (it got an event, or its
//! `recv` was dropped), the spawned task takes over again.
//!
//! Only one side polls at a time (a lock; the other side leaves the wake-up to the
//! holder, which looks again after letting go), and no wake-up is lost between them: a
//! wake-up sets `woken` before it picks a side, and a side that stops waiting looks at
//! `woken` after it says so.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, TryLockError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

type Connection = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct Driver {
    /// The task's future; `None` once it has finished.
    future: Mutex<Option<Connection>>,
    /// A wake-up arrived that no poll has answered yet.
    woken: AtomicBool,
    /// A receiver is inside `recv` and answers wake-ups itself.
    engaged: AtomicBool,
    receiver: AtomicWaker,
    spawned: AtomicWaker,
    finished: AtomicBool,
    /// The runtime the connection was opened on (its timers need its context).
    runtime: tokio::runtime::Handle,
}

impl Driver {
    /// Spawns `future` on the current runtime and returns the handle the receiver uses.
    pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Arc<Driver> {
        let driver = Arc::new(Driver {
            future: Mutex::new(Some(Box::pin(future))),
            woken: AtomicBool::new(true),
            engaged: AtomicBool::new(false),
            receiver: AtomicWaker::new(),
            spawned: AtomicWaker::new(),
            finished: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        });
        let d = Spawned(driver.clone());
        tokio::spawn(std::future::poll_fn(move |cx| {
            let d = &d.0;
            d.spawned.register(cx.waker());
            if !d.engaged.load(SeqCst) && d.woken.load(SeqCst) {
                d.poll_connection();
            }
            if d.finished.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        driver
    }

    /// Polls the connection if a wake-up is pending and nobody else is polling it.
    pub(crate) fn poll_if_woken(self: &Arc<Self>) {
        if self.woken.load(SeqCst) {
            self.poll_connection();
        }
    }

    /// Polls the connection once, unless the other side is polling it. A wake-up that
    /// arrives during the poll has already scheduled a side to poll again; one that the
    /// other side could not answer because of the lock is passed on after letting go.
    /// (Never loops: a poll that ran out of tokio's budget wakes at once, and only a
    /// fresh poll of the task gets a fresh budget.)
    fn poll_connection(self: &Arc<Self>) {
        let mut slot = match self.future.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::WouldBlock) => return,
            // The future catches its own panics; a poisoned lock still holds it.
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        let Some(future) = slot.as_mut() else {
            return;
        };
        self.woken.store(false, SeqCst);
        let waker = Waker::from(self.clone());
        let ready = {
            let _runtime = self.runtime.enter();
            future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        };
        if ready {
            *slot = None;
            drop(slot);
            self.finished.store(true, SeqCst);
            self.spawned.wake();
            self.receiver.wake();
            return;
        }
        drop(slot);
        if self.woken.load(SeqCst) {
            self.wake_by_ref();
        }
    }

    /// The receiver is about to wait: wake-ups go to it.
    pub(crate) fn engage(self: &Arc<Self>) -> Engaged {
        self.engaged.store(true, SeqCst);
        Engaged(self.clone())
    }

    /// Registers the receiver's waker; returns whether a wake-up arrived meanwhile (the
    /// receiver should then poll again rather than wait).
    pub(crate) fn register_receiver(&self, waker: &Waker) -> bool {
        self.receiver.register(waker);
        self.woken.load(SeqCst)
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("finished", &self.finished.load(SeqCst))
            .finish_non_exhaustive()
    }
}

impl Wake for Driver {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        if self.engaged.load(SeqCst) {
            self.receiver.wake();
        } else {
            self.spawned.wake();
        }
    }
}

/// The spawned task's share. If the runtime drops the task (it is shutting down), the
/// connection goes with it, as if it had run there alone: the receiver then ends.
struct Spawned(Arc<Driver>);

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.0.finished.swap(true, SeqCst) {
            return;
        }
        let connection = match self.0.future.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(connection);
        self.0.receiver.wake();
    }
}

/// While it lives, the receiver answers the connection's wake-ups; dropping it hands them
/// back to the spawned task (and wakes it if one is pending).
pub(crate) struct Engaged(Arc<Driver>);

impl Drop for Engaged {
    fn drop(&mut self) {
        self.0.engaged.store(false, SeqCst);
        if self.0.woken.load(SeqCst) {
            self.0.spawned.wake();
        }
    }
}
