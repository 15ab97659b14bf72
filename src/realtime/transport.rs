//! The connection task: one per connection, owning the WebSocket. It writes what the
//! senders queue, reads and parses server events, pings, closes, and reconnects.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::api_key::ApiKey;
use super::events::parse_server_event;
use super::events::{Disconnected, Reconnected, ServerEvent};
use super::handle::{Command, Outgoing, SendBudget};
use super::handshake::{Ws, handshake};
use super::options::{ConnectOptions, EventCheck, IncomingHook, Reconnecting};
use super::reconnect_policy::ReconnectPolicy;
use super::session_merge::merge;
use super::ws::{Message, WsError};
use crate::Error;
use crate::inbox::{Batch, InboxSender, Weigh};
use crate::time::{deadline_after, sleep_until};

impl Weigh for ServerEvent {
    /// The event's JSON text plus its in-memory size.
    fn weight(&self) -> usize {
        std::mem::size_of::<ServerEvent>() + self.raw().map_or(0, |r| r.as_str().len())
    }
}

/// The longest `Retry-After` a reconnect waits for when the policy's `max_backoff` is
/// shorter.
const RETRY_AFTER_CAP: std::time::Duration = std::time::Duration::from_secs(60);

/// What woke the connection loop.
enum Step {
    Command(Option<Command>),
    Frame(Option<Result<Message, WsError>>),
    Ping,
}

/// How one connection ended.
enum End {
    /// We closed it (or every handle is gone): end quietly.
    Closed,
    /// It was lost.
    Lost(Error, Option<u16>),
}

pub(crate) struct Task {
    pub(crate) options: ConnectOptions,
    pub(crate) key: ApiKey,
    pub(crate) cmd_rx: mpsc::Receiver<Command>,
    pub(crate) evt_tx: InboxSender<ServerEvent>,
    pub(crate) budget: Arc<SendBudget>,
    /// Events read and not yet published to the receiver.
    batch: Batch<ServerEvent>,
    /// Every `session.update`'s `session`, merged, for replay after a reconnect.
    session: Option<Value>,
    /// Events sent while reconnecting.
    backlog: VecDeque<Outgoing>,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl Task {
    pub(crate) fn new(
        options: ConnectOptions,
        key: ApiKey,
        cmd_rx: mpsc::Receiver<Command>,
        evt_tx: InboxSender<ServerEvent>,
        budget: Arc<SendBudget>,
    ) -> Self {
        Task {
            options,
            key,
            cmd_rx,
            evt_tx,
            budget,
            batch: Batch::default(),
            session: None,
            backlog: VecDeque::new(),
            close_waiters: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self, mut ws: Ws) {
        loop {
            let end = self.drive(&mut ws).await;
            // What was read before the end comes before any local event. (Past the
            // bound by at most one batch: waiting here could keep a closed
            // connection's task alive for as long as the receiver is not read.)
            self.evt_tx.force(&mut self.batch);
            let (error, code) = match end {
                End::Closed => break,
                End::Lost(error, code) => (error, code),
            };
            let policy = self
                .options
                .reconnect
                .clone()
                .filter(|_| error.is_retryable());
            tracing::warn!(%error, will_reconnect = policy.is_some(), "connection lost");
            let Some(policy) = policy else {
                let unsent = self.abandon();
                self.deliver(ServerEvent::Disconnected(Disconnected::new(
                    error, code, false, unsent,
                )))
                .await;
                break;
            };
            self.deliver(ServerEvent::Disconnected(Disconnected::new(
                error.clone(),
                code,
                true,
                0,
            )))
            .await;
            match self.reconnect(&policy, error).await {
                Ok(new_ws) => ws = new_ws,
                Err(None) => {
                    let unsent = self.abandon();
                    if unsent > 0 {
                        tracing::debug!(unsent, "closed while reconnecting: events not sent");
                    }
                    break;
                }
                Err(Some(error)) => {
                    let unsent = self.abandon();
                    self.deliver(ServerEvent::Disconnected(Disconnected::new(
                        error, None, false, unsent,
                    )))
                    .await;
                    break;
                }
            }
        }
        for done in self.close_waiters.drain(..) {
            let _ = done.send(());
        }
    }

    /// Gives up on every event accepted and not yet written: stops taking commands, and
    /// returns how many there were (the final `Disconnected` reports them).
    fn abandon(&mut self) -> usize {
        self.cmd_rx.close();
        let mut unsent = 0;
        for out in self.backlog.drain(..) {
            self.budget.release(out.text.len());
            unsent += 1;
        }
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            match cmd {
                Command::Send(out) => {
                    self.budget.release(out.text.len());
                    unsent += 1;
                }
                Command::Close(done) => self.close_waiters.push(done),
            }
        }
        if unsent > 0 {
            tracing::warn!(unsent, "connection lost: queued events were not sent");
        }
        unsent
    }

    /// Delivers a local event, waiting for room; dropped if the receiver is gone.
    async fn deliver(&self, event: ServerEvent) {
        self.evt_tx.send(event).await;
    }

    /// Runs one connection until it closes or is lost.
    async fn drive(&mut self, ws: &mut Ws) -> End {
        let pong_timeout = self.options.pong_timeout;
        let ping_interval = self.options.ping_interval;
        let mut pong_deadline: Option<Instant> = None;
        let mut close_deadline: Option<Instant> = None;
        let incoming = self.options.incoming.clone();
        let check = self.options.check.clone();
        // Frames ready on the socket are gathered into one batch up to these sizes, then
        // published together (one wake-up of the receiver per batch).
        let batch_bytes = (self.options.receive_queue_bytes / 4).max(1);
        let batch_events = (self.options.receive_capacity / 4).max(1);
        // One timer for pings, moved on after each: a new one at every turn of the loop
        // would be registered anew each time, and each registration can wake a worker
        // parked in the runtime's driver (a thread woken for nothing, per batch).
        let ping = tokio::time::sleep_until(deadline_after(
            ping_interval.unwrap_or(std::time::Duration::MAX),
        ));
        tokio::pin!(ping);

        loop {
            let step = tokio::select! {
                biased;

                _ = poll_fn(|cx| self.evt_tx.poll_publish(cx, &mut self.batch)), if !self.batch.is_empty() => {
                    // Published, or discarded because the receiver is gone. Time spent
                    // waiting for the receiver does not count against the pong.
                    if let Some(d) = pong_deadline {
                        pong_deadline = Some(d.max(deadline_after(pong_timeout)));
                    }
                    continue;
                }
                cmd = self.cmd_rx.recv(), if close_deadline.is_none() => Step::Command(cmd),
                msg = ws.next(), if self.batch.is_empty() => Step::Frame(msg),
                () = &mut ping, if ping_interval.is_some() && close_deadline.is_none() => Step::Ping,
                _ = sleep_until(pong_deadline), if pong_deadline.is_some() && self.batch.is_empty() => {
                    return End::Lost(Error::PongTimeout(pong_timeout), None);
                }
                _ = sleep_until(close_deadline), if close_deadline.is_some() => {
                    tracing::debug!("no close frame from the server in time");
                    return End::Closed;
                }
            };

            match step {
                Step::Command(Some(Command::Send(out))) => {
                    if let Err(e) = self.write(ws, out).await {
                        return End::Lost(e, None);
                    }
                }
                Step::Command(Some(Command::Close(done))) => {
                    self.close_waiters.push(done);
                    close_deadline = Some(self.start_close(ws).await);
                }
                Step::Command(None) => close_deadline = Some(self.start_close(ws).await),
                Step::Ping => {
                    if let Err(e) = ws.send_ping().await {
                        return End::Lost(Error::transport(e), None);
                    }
                    pong_deadline.get_or_insert_with(|| deadline_after(pong_timeout));
                    if let Some(every) = ping_interval {
                        ping.as_mut().reset(deadline_after(every));
                    }
                }
                Step::Frame(msg) => {
                    pong_deadline = None; // Any frame shows the peer is alive.
                    let closing = close_deadline.is_some();
                    let hooks = (&incoming, &check);
                    if let Some(end) = self.on_frame(ws, msg, closing, hooks).await {
                        return end;
                    }
                    // Take what else is ready without waiting.
                    while self.batch.bytes() < batch_bytes && self.batch.len() < batch_events {
                        let Poll::Ready(msg) =
                            poll_fn(|cx| Poll::Ready(ws.poll_next_unpin(cx))).await
                        else {
                            break;
                        };
                        if let Some(end) = self.on_frame(ws, msg, closing, hooks).await {
                            return end;
                        }
                    }
                }
            }
        }
    }

    /// After the server broke the protocol (a message over the size limit, text that is
    /// not UTF-8, a malformed frame), tells it why with the close code RFC 6455 gives
    /// (1009, 1007, 1002) before the socket is dropped; waits at most `close_timeout`.
    async fn fail(&self, ws: &mut Ws, error: &WsError) {
        let Some(code) = error.close_code() else {
            return;
        };
        tracing::warn!(%error, code, "closing: the server broke the protocol");
        let _ = tokio::time::timeout(self.options.close_timeout, ws.close(code)).await;
    }

    /// Handles one frame (or the stream's end): events go into the batch; `Some` when
    /// the connection ended.
    async fn on_frame(
        &mut self,
        ws: &mut Ws,
        msg: Option<Result<Message, WsError>>,
        closing: bool,
        (incoming, check): (&Option<IncomingHook>, &Option<Arc<dyn EventCheck>>),
    ) -> Option<End> {
        match msg {
            Some(Ok(Message::Text(text))) => {
                let mut event = Some(parse_server_event(text));
                if let Some(hook) = incoming {
                    event = event.and_then(|e| hook(e));
                }
                let event = event?;
                tracing::trace!(event_type = event.event_type(), "received");
                if let Some(check) = check
                    && let Some(warning) = check.incoming(&event)
                {
                    self.batch.push(ServerEvent::Warning(warning));
                }
                self.batch.push(event);
                None
            }
            Some(Ok(Message::Binary(len))) => {
                self.batch.push(ServerEvent::Malformed {
                    event_type: String::new(),
                    error: format!("unexpected binary frame of {len} bytes"),
                    raw: "".into(),
                });
                None
            }
            Some(Ok(Message::Close(frame))) => {
                // The close reply is queued; write it out.
                let _ = ws.flush().await;
                if closing {
                    return Some(End::Closed);
                }
                let (code, reason) = frame.unwrap_or((1005, String::new()));
                Some(End::Lost(Error::Closed { code, reason }, Some(code)))
            }
            Some(Ok(Message::Control)) => None, // A ping (answered) or a pong.
            Some(Err(_)) if closing => Some(End::Closed),
            Some(Err(e)) => {
                self.fail(ws, &e).await;
                Some(End::Lost(Error::transport(e), None))
            }
            None if closing => Some(End::Closed),
            None => {
                let eof = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server ended the connection without a close frame",
                );
                Some(End::Lost(Error::transport(eof), Some(1006)))
            }
        }
    }

    /// Writes one event. One that fails goes back to the front of the backlog: written
    /// first after a reconnect, or counted as unsent.
    async fn write(&mut self, ws: &mut Ws, out: Outgoing) -> Result<(), Error> {
        let n = out.text.len();
        if let Err(e) = ws.send_text(out.text.as_bytes()).await {
            self.backlog.push_front(out);
            return Err(Error::transport(e));
        }
        self.budget.release(n);
        self.remember_session(out.session);
        Ok(())
    }

    /// Folds a sent `session.update`'s session into the one replayed after a reconnect.
    fn remember_session(&mut self, session: Option<Value>) {
        match (&mut self.session, session) {
            (Some(merged), Some(session)) => merge(merged, session),
            (None, Some(session)) => self.session = Some(session),
            (_, None) => {}
        }
    }

    /// Sends close 1000 and stops taking commands; returns the deadline for the reply.
    async fn start_close(&mut self, ws: &mut Ws) -> Instant {
        if let Err(e) = ws.close(1000).await {
            tracing::debug!(error = %e, "close frame not sent");
        }
        for done in self.close_waiters.drain(..) {
            let _ = done.send(());
        }
        self.cmd_rx.close();
        while let Ok(Command::Send(out)) = self.cmd_rx.try_recv() {
            tracing::debug!(bytes = out.text.len(), "event sent after close was dropped");
            self.budget.release(out.text.len());
        }
        deadline_after(self.options.close_timeout)
    }

    /// Tries to connect again. `Err(None)`: every handle closed meanwhile; `Err(Some(e))`:
    /// gave up.
    async fn reconnect(
        &mut self,
        policy: &ReconnectPolicy,
        lost: Error,
    ) -> Result<Ws, Option<Error>> {
        let lost_at = Instant::now();
        let mut last = None;
        for attempt in 1..=policy.max_attempts.max(1) {
            if let Some(hook) = self.options.on_reconnecting.clone() {
                match hook(attempt, last.as_ref().unwrap_or(&lost)) {
                    Reconnecting::Continue => {}
                    Reconnecting::WithKey(key) => self.key = key,
                    Reconnecting::Abort => {
                        tracing::info!(attempt, "reconnecting given up by the hook");
                        return Err(Some(Error::ReconnectFailed {
                            attempts: attempt - 1,
                            last: Box::new(last.unwrap_or(lost)),
                        }));
                    }
                }
            }
            // A refusal that says when to come back (a 429 or 503 with `Retry-After`) is
            // waited out in full; the wait still ends at once on close.
            // A server cannot stall reconnecting for longer than the policy's longest wait,
            // or a minute when that is shorter.
            let asked = last
                .as_ref()
                .and_then(Error::retry_after)
                .unwrap_or_default();
            let asked = asked.min(policy.max_backoff.max(RETRY_AFTER_CAP));
            let wait = policy.backoff(attempt).max(asked);
            let wait_until = deadline_after(wait);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wait_until) => break,
                    cmd = self.cmd_rx.recv() => match cmd {
                        Some(Command::Send(out)) => self.backlog.push_back(out),
                        Some(Command::Close(done)) => {
                            let _ = done.send(());
                            return Err(None);
                        }
                        None => return Err(None),
                    },
                }
            }
            tracing::info!(attempt, "reconnecting");
            match handshake(&self.options, &self.key).await {
                Ok(mut ws) => match self.resume(&mut ws).await {
                    Ok((session_replayed, flushed_events)) => {
                        tracing::info!(attempt, flushed_events, "reconnected");
                        let downtime = lost_at.elapsed();
                        self.deliver(ServerEvent::Reconnected(Reconnected {
                            attempt,
                            downtime,
                            session_replayed,
                            flushed_events,
                        }))
                        .await;
                        return Ok(ws);
                    }
                    Err(e) => last = Some(e),
                },
                // A refusal is final, unless a hook may bring a new key (an expired
                // ephemeral key is refused with 401).
                Err(e) if !e.is_retryable() && self.options.on_reconnecting.is_none() => {
                    return Err(Some(Error::ReconnectFailed {
                        attempts: attempt,
                        last: Box::new(e),
                    }));
                }
                Err(e) => last = Some(e),
            }
        }
        let last = last.unwrap_or(Error::ConnectionClosed);
        Err(Some(Error::ReconnectFailed {
            attempts: policy.max_attempts.max(1),
            last: Box::new(last),
        }))
    }

    /// On a new connection: replays the merged session, then the backlog, in order.
    async fn resume(&mut self, ws: &mut Ws) -> Result<(bool, usize), Error> {
        let replayed = match &self.session {
            Some(session) => {
                let text =
                    serde_json::json!({ "type": "session.update", "session": session }).to_string();
                ws.send_text(text.as_bytes())
                    .await
                    .map_err(Error::transport)?;
                true
            }
            None => false,
        };
        let mut flushed = 0;
        while let Some(out) = self.backlog.pop_front() {
            let n = out.text.len();
            if let Err(e) = ws.send_text(out.text.as_bytes()).await {
                self.backlog.push_front(out);
                return Err(Error::transport(e));
            }
            self.budget.release(n);
            self.remember_session(out.session);
            flushed += 1;
        }
        Ok((replayed, flushed))
    }
}
