//! The request task: HTTP in, SSE parsed, chunks delivered with backpressure, exactly one
//! terminal event out.

use std::collections::VecDeque;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::accumulate::Accumulator;
use super::answer::{ERROR_BODY_MAX, check_head, http_error, read_capped};
use super::event::{Accumulated, ChatError, ChatEvent, Chunk, Complete, CompleteReason};
use super::framing::Framer;
use super::options::Prepared;
use super::options::{Backpressure, ChatOptions, OnParseError};
use super::read::Read;
use super::sink::Sink;
use super::sse::SseEvent;
use super::wire::{self, ANTHROPIC_VERSION, Reader, Wire};
use crate::Error;
use crate::inbox::Batch;
use crate::time::{deadline_after, sleep_until};

/// The most chunks gathered from ready body frames before they are handed over.
const MAX_BURST: usize = 256;

/// Stops a request: [`stop`](Self::stop) drops the connection at once and the request
/// ends with `Complete { reason: Stopped }` and the text so far. Dropping the handle does
/// not stop the request (drop the receiver for that).
#[derive(Debug, Clone)]
pub struct StopHandle {
    token: CancellationToken,
}

impl StopHandle {
    /// Stops the request.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A handle on a token (for tasks other than the engine's, such as the router's).
    pub(super) fn from_token(token: CancellationToken) -> Self {
        StopHandle { token }
    }
}

/// Starts a request; events go to `sender` (a channel you sized). Checks the options and
/// the key first: a bad request fails here, before any I/O. Must be called inside a tokio
/// runtime.
///
/// # Errors
///
/// All before any I/O: [`Error::InvalidOption`] for options that cannot work (no
/// messages, a zero queue capacity or timeout), [`Error::MissingApiKey`] without a key,
/// [`Error::NoRuntime`] outside a tokio runtime. What goes wrong once the request runs
/// (HTTP status, connection, parse) arrives as the terminal [`ChatEvent::Error`]: an
/// error status with the start of its body (64 KiB at most are read), an answer that
/// cannot be the wire's events (an HTML page, a `Content-Encoding` the client did not
/// ask for) or that ends inside an event as [`Error::InvalidResponse`].
///
/// ```no_run
/// use serde_json::json;
/// use vivavoce::chat::{start_request, ChatEvent, ChatOptions};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, mut rx) = tokio::sync::mpsc::channel(64);
/// let options = ChatOptions::new("gpt-4o-mini", vec![json!({"role": "user", "content": "Hi"})]);
/// let stop = start_request(options, tx)?;
/// while let Some(event) = rx.recv().await {
///     match event {
///         ChatEvent::Chunk(c) => print!("{}", c.text().unwrap_or_default()),
///         ChatEvent::Complete(done) => println!("\n{:?}: {}", done.reason, done.result.content),
///         ChatEvent::Error(e) => eprintln!("{} (after {:?})", e.error, e.partial.content),
///         _ => {}
///     }
/// }
/// # let _ = stop; Ok(()) }
/// ```
pub fn start_request(
    options: ChatOptions,
    sender: mpsc::Sender<ChatEvent>,
) -> Result<StopHandle, Error> {
    start(options, Sink::Channel(sender))
}

/// Starts a request whose events go to `sink` (see [`start_request`]).
pub(super) fn start(options: ChatOptions, sink: Sink) -> Result<StopHandle, Error> {
    let prepared = options.prepare()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::NoRuntime {
            function: "chat::start_request",
        });
    }
    let token = CancellationToken::new();
    let run = Run {
        secret: None,
        tx: sink,
        acc: Accumulator::default(),
        queue: VecDeque::new(),
        last_delivery: Instant::now(),
        cancel: token.clone(),
        done_event: None,
        reader: Reader::new(options.wire),
        received: 0,
        options,
    };
    tokio::spawn(run.run(prepared));
    Ok(StopHandle { token })
}

/// How a request ends, inside the task.
enum End {
    Complete(CompleteReason),
    Fail(Error),
    /// The receiver is gone: nobody to tell.
    Gone,
}

struct Run {
    /// The key sent (without its scheme), to keep it out of error bodies a server echoes.
    secret: Option<String>,
    tx: Sink,
    options: ChatOptions,
    acc: Accumulator,
    queue: VecDeque<ChatEvent>,
    last_delivery: Instant,
    cancel: CancellationToken,
    done_event: Option<Chunk>,
    /// Reads the wire format's events, remembering what they do not repeat.
    reader: Reader,
    /// SSE events read so far (to name a bad one).
    received: usize,
}

impl Run {
    async fn run(mut self, prepared: Prepared) {
        let end = match self.request(prepared).await {
            Ok(()) => End::Complete(CompleteReason::Done),
            Err(end) => end,
        };
        let terminal = match end {
            End::Gone => return,
            End::Complete(reason) => ChatEvent::Complete(Box::new(Complete {
                reason,
                result: Accumulated::from(&self.acc),
                done_event: self.done_event.take(),
            })),
            End::Fail(error) => ChatEvent::Error(Box::new(ChatError {
                error,
                partial: Accumulated::from(&self.acc),
            })),
        };
        // What waits in the queue goes first, in order; then the one terminal event.
        for ev in std::mem::take(&mut self.queue) {
            if self.tx.send(ev).await.is_err() {
                return;
            }
        }
        let _ = self.tx.send(terminal).await;
    }

    fn idle_deadline(&self) -> Option<Instant> {
        self.options.channel_idle_timeout.map(|d| {
            self.last_delivery
                .checked_add(d)
                .unwrap_or_else(|| deadline_after(d))
        })
    }

    async fn request(&mut self, prepared: Prepared) -> Result<(), End> {
        let url = prepared.url;
        self.secret = prepared.auth.as_ref().map(|(_, v)| {
            let v = v.strip_prefix("Bearer ").unwrap_or(v);
            v.to_owned()
        });
        let shared = crate::http_client::shared();
        let mut req = self
            .options
            .http_client
            .as_ref()
            .unwrap_or(shared)
            .post(&url)
            .json(&prepared.body);
        if let Some((name, value)) = prepared.auth {
            req = req.header(name, value);
        }
        for (k, v) in &self.options.headers {
            req = req.header(k, v);
        }
        let wire = self.options.wire;
        let has = |name: &str| {
            let given = &self.options.headers;
            given.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if wire == Wire::Anthropic && !has("anthropic-version") {
            req = req.header("anthropic-version", ANTHROPIC_VERSION);
        }
        if let Some(t) = self.options.http_timeout {
            req = req.timeout(t);
        }
        let resp = self
            .guard(req.send())
            .await?
            .map_err(|e| End::Fail(http_error(&url, e, self.options.http_timeout)))?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let read = self.guard(read_capped(resp, ERROR_BODY_MAX)).await?;
            let text = read.map(|(text, _)| text).unwrap_or_default();
            return Err(End::Fail(Error::http_status(
                status.as_u16(),
                url,
                self.redact(text),
                Some(&headers),
            )));
        }
        let resp = self
            .guard(check_head(resp, &url))
            .await?
            .map_err(End::Fail)?;
        if !self.options.stream {
            let limit = self.options.max_event_bytes;
            let (text, more) = self
                .guard(read_capped(resp, limit))
                .await?
                .map_err(|e| End::Fail(http_error(&url, e, self.options.http_timeout)))?;
            if more {
                return Err(End::Fail(Error::InvalidResponse {
                    url,
                    message: format!("the answer is larger than {limit} bytes (max_event_bytes)"),
                }));
            }
            let delta = wire::parse_whole(wire, &text).map_err(|e| {
                End::Fail(Error::InvalidResponse {
                    url: url.clone(),
                    message: format!("the completion does not parse: {e}"),
                })
            })?;
            if self.options.accumulate {
                self.acc.add(&delta);
            }
            if delta.error.is_some() {
                return Err(End::Fail(self.stream_error(&text)));
            }
            let chunk = Chunk {
                data: text,
                delta: Some(delta),
                ..Chunk::default()
            };
            return self.deliver(ChatEvent::Chunk(chunk)).await;
        }
        let mut body = resp.bytes_stream();
        let mut parser = Framer::new(wire.framing(), self.options.max_event_bytes);
        // The chunks of all the body frames that are ready, handed over together: the
        // consumer is woken once per burst rather than once per chunk.
        let mut batch: Batch<ChatEvent> = Batch::default();
        loop {
            let idle = self.idle_deadline();
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(End::Complete(CompleteReason::Stopped)),
                permit = self.tx.reserve(), if !self.queue.is_empty() => {
                    let permit = permit.map_err(|_| End::Gone)?;
                    permit.send(self.queue.pop_front().expect("not empty"));
                    self.last_delivery = Instant::now();
                    continue;
                }
                _ = sleep_until(idle), if idle.is_some() => return Err(End::Complete(CompleteReason::Timeout)),
                next = body.next() => next,
            };
            let end = self.burst(next, &mut body, &mut parser, &mut batch);
            // Chunks before the end are delivered first.
            self.deliver_all(&mut batch).await?;
            if let Some(end) = end {
                return end;
            }
            if !self.queue.is_empty() {
                // The consumer is behind: let it run (it may share this worker thread)
                // before reading on, rather than filling the queue from buffered bytes.
                tokio::task::yield_now().await;
            }
        }
    }

    /// Parses `first` and every further body frame that is ready into `batch` (up to
    /// [`MAX_BURST`] chunks); says how the stream ends if it ends within them: `[DONE]`,
    /// a bad or oversized event, a failed read, the end of the body.
    fn burst<B: AsRef<[u8]>>(
        &mut self,
        first: Option<reqwest::Result<B>>,
        body: &mut (impl futures_core::Stream<Item = reqwest::Result<B>> + Unpin),
        parser: &mut Framer,
        batch: &mut Batch<ChatEvent>,
    ) -> Option<Result<(), End>> {
        let mut next = first;
        loop {
            let bytes = match next {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    let e = http_error(&self.options.url, e, self.options.http_timeout);
                    return Some(Err(End::Fail(e)));
                }
                None => return Some(self.eof(parser, batch)),
            };
            let mut end = None;
            let fed = parser.feed(bytes.as_ref(), |ev| {
                if end.is_none() {
                    end = self.take(ev, batch);
                }
            });
            if let Err(t) = fed {
                end.get_or_insert(Err(End::Fail(Error::InvalidResponse {
                    url: self.options.url.clone(),
                    message: t.to_string(),
                })));
            }
            if end.is_some() || batch.len() >= MAX_BURST {
                return end;
            }
            // Take the frames that are ready now; hand over the rest when none is. (An
            // HTTP/1.1 body comes a frame at a time from the connection's task, so this is
            // often one frame: waiting here for that task to run once, with
            // `yield_now`, made bigger batches but cost more than it saved, as each yield
            // wakes an idle worker of the multi-thread runtime to look for work.)
            next = body.next().now_or_never()?;
        }
    }

    /// Turns one SSE event into a chunk for `batch` (parsed and accumulated), or says how
    /// the stream ends: `Ok` at `[DONE]`, an error for a bad chunk under
    /// [`OnParseError::Stop`].
    fn take(&mut self, ev: SseEvent, batch: &mut Batch<ChatEvent>) -> Option<Result<(), End>> {
        self.received += 1;
        let count = self.received;
        if ev.data == "[DONE]" {
            return self.end_of_stream(ev);
        }
        let mut last = false;
        let parsed = match self.reader.read(&ev.data) {
            Ok(Read::Delta(d)) => Ok(d),
            Ok(Read::Last(d)) => {
                last = true;
                Ok(d)
            }
            // `message_stop`: the end, as `[DONE]` is.
            Ok(Read::Stop) => return self.end_of_stream(ev),
            Err(e) => Err(e),
        };
        let delta = match parsed {
            Ok(d) => Some(d),
            Err(e) if self.options.on_parse_error == OnParseError::Stop => {
                return Some(Err(End::Fail(Error::InvalidResponse {
                    url: self.options.url.clone(),
                    message: format!("chunk {count} is not a valid chunk: {e}"),
                })));
            }
            Err(e) => {
                tracing::debug!(chunk = count, error = %e, "chunk skipped");
                None
            }
        };
        if let (true, Some(d)) = (self.options.accumulate, &delta) {
            self.acc.add(d);
        }
        let failed = delta.as_ref().is_some_and(|d| d.error.is_some());
        if failed {
            let error = self.stream_error(&ev.data);
            batch.push(ChatEvent::Chunk(Chunk::of(ev, delta)));
            return Some(Err(End::Fail(error)));
        }
        if last {
            // Delivered as a chunk, and kept as the event that ended the stream.
            batch.push(ChatEvent::Chunk(Chunk::of(ev.clone(), delta)));
            return self.end_of_stream(ev);
        }
        batch.push(ChatEvent::Chunk(Chunk::of(ev, delta)));
        None
    }

    /// The body ended: a last unterminated line is still an event; then the end is
    /// normal for a format without an end marker after its stop reason, and `Eof`
    /// otherwise.
    fn eof(&mut self, parser: &mut Framer, batch: &mut Batch<ChatEvent>) -> Result<(), End> {
        let mut end = None;
        parser.finish(|ev| {
            if end.is_none() {
                end = self.take(ev, batch);
            }
        });
        if let Some(end) = end {
            return end;
        }
        if parser.has_partial() {
            // Cut inside an event: what it was is unknown, so the answer is incomplete.
            return Err(End::Fail(Error::InvalidResponse {
                url: self.options.url.clone(),
                message: format!("the body ended inside chunk {}", self.received + 1),
            }));
        }
        if self.reader.ends_at_eof() {
            return Ok(());
        }
        Err(End::Complete(CompleteReason::Eof))
    }

    /// Keeps the event that ended the stream (`[DONE]`, Anthropic's `message_stop`).
    fn end_of_stream(&mut self, ev: SseEvent) -> Option<Result<(), End>> {
        self.done_event = Some(Chunk {
            id: ev.id,
            event: ev.event,
            data: ev.data,
            delta: None,
            done: true,
        });
        Some(Ok(()))
    }

    /// An error object sent inside a 200 answer (OpenRouter does, when the model fails
    /// mid-way): the request's error, as an HTTP error of status 200 with the API's error.
    #[cold]
    fn stream_error(&self, data: &str) -> Error {
        let body = self.redact(data.to_owned());
        Error::http_status(200, self.options.url.clone(), body, None)
    }

    /// `text` without the key in it: a server may quote the key it refused.
    fn redact(&self, text: String) -> String {
        match self.secret.as_deref() {
            Some(secret) if !secret.is_empty() && text.contains(secret) => {
                text.replace(secret, "<redacted>")
            }
            _ => text,
        }
    }

    /// Delivers a read's chunks in order, leaving `batch` empty (and its memory for the
    /// next read).
    async fn deliver_all(&mut self, batch: &mut Batch<ChatEvent>) -> Result<(), End> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Sink::Inbox(inbox) = &self.tx {
            // The whole burst at once, when the reader has room for it.
            let idle = self.idle_deadline();
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(End::Complete(CompleteReason::Stopped)),
                _ = sleep_until(idle), if idle.is_some() => return Err(End::Complete(CompleteReason::Timeout)),
                sent = inbox.publish(batch) => sent.map_err(|_| End::Gone)?,
            }
            self.last_delivery = Instant::now();
            return Ok(());
        }
        if let (Backpressure::Block, Some(tx)) = (self.options.backpressure, self.tx.channel()) {
            // Straight into the channel while it has room. When it is full, wait for room
            // for many events at once (half the channel, or all that is left): waiting for
            // one would wake this task for every event the consumer takes, and the two
            // threads would take turns per event rather than per batch.
            let mut pending = batch.drain();
            let mut sent = false;
            while let Some(ev) = pending.next() {
                match tx.try_send(ev) {
                    Ok(()) => sent = true,
                    Err(mpsc::error::TrySendError::Full(ev)) => {
                        if sent {
                            self.last_delivery = Instant::now();
                        }
                        // (One at a time under an idle limit, which counts from the last
                        // event delivered: a slow consumer that keeps taking events must
                        // not time out while this waits for room for many.)
                        let want = match self.options.channel_idle_timeout {
                            Some(_) => 1,
                            None => (pending.len() + 1).min(tx.max_capacity().div_ceil(2)),
                        };
                        let mut permits = self.room(tx, want).await?;
                        if let Some(permit) = permits.next() {
                            permit.send(ev);
                        }
                        for permit in permits {
                            match pending.next() {
                                Some(ev) => permit.send(ev),
                                None => break,
                            }
                        }
                        sent = true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(End::Gone),
                }
            }
            if sent {
                self.last_delivery = Instant::now();
            }
            return Ok(());
        }
        for ev in batch.drain() {
            self.deliver(ev).await?;
        }
        Ok(())
    }

    /// Waits for room for `n` events in the channel, unless stopped or idle first.
    async fn room<'a>(
        &self,
        tx: &'a mpsc::Sender<ChatEvent>,
        n: usize,
    ) -> Result<mpsc::PermitIterator<'a, ChatEvent>, End> {
        let idle = self.idle_deadline();
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(End::Complete(CompleteReason::Stopped)),
            _ = sleep_until(idle), if idle.is_some() => Err(End::Complete(CompleteReason::Timeout)),
            permits = tx.reserve_many(n) => permits.map_err(|_| End::Gone),
        }
    }

    /// Runs `fut` unless stopped or idle first.
    async fn guard<T>(&self, fut: impl std::future::Future<Output = T>) -> Result<T, End> {
        let idle = self.idle_deadline();
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(End::Complete(CompleteReason::Stopped)),
            _ = sleep_until(idle), if idle.is_some() => Err(End::Complete(CompleteReason::Timeout)),
            v = fut => Ok(v),
        }
    }

    /// Hands an event to the consumer under the backpressure policy.
    async fn deliver(&mut self, ev: ChatEvent) -> Result<(), End> {
        match self.options.backpressure {
            Backpressure::Block => {
                let idle = self.idle_deadline();
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return Err(End::Complete(CompleteReason::Stopped)),
                    _ = sleep_until(idle), if idle.is_some() => return Err(End::Complete(CompleteReason::Timeout)),
                    sent = self.tx.send(ev) => sent.map_err(|_| End::Gone)?,
                }
                self.last_delivery = Instant::now();
            }
            Backpressure::Queue { capacity } => {
                let Some(tx) = self.tx.channel() else {
                    // (A stream's inbox always blocks.)
                    return self.tx.send(ev).await.map_err(|_| End::Gone);
                };
                // Move what waits into whatever room the consumer has made meanwhile.
                while let Some(front) = self.queue.pop_front() {
                    match tx.try_send(front) {
                        Ok(()) => self.last_delivery = Instant::now(),
                        Err(mpsc::error::TrySendError::Full(front)) => {
                            self.queue.push_front(front);
                            break;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return Err(End::Gone),
                    }
                }
                if !self.queue.is_empty() && self.queue.len().is_multiple_of(64) {
                    // Let a consumer that shares this worker thread catch up.
                    tokio::task::yield_now().await;
                }
                if self.queue.is_empty() {
                    match tx.try_send(ev) {
                        Ok(()) => {
                            self.last_delivery = Instant::now();
                            return Ok(());
                        }
                        Err(mpsc::error::TrySendError::Full(ev)) => self.queue.push_back(ev),
                        Err(mpsc::error::TrySendError::Closed(_)) => return Err(End::Gone),
                    }
                } else {
                    self.queue.push_back(ev);
                }
                if self.queue.len() > capacity {
                    self.queue.pop_back();
                    return Err(End::Fail(Error::ConsumerTooSlow { queued: capacity }));
                }
            }
        }
        Ok(())
    }
}
