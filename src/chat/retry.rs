//! Retrying a request, and falling back to other ones, only before any content was
//! delivered: see [`RetryPolicy`].

use std::time::Duration;

use std::future::poll_fn;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{StopHandle, start};
use super::event::{ChatError, ChatEvent, Chunk, Complete, CompleteReason};
use super::options::{Backpressure, ChatOptions};
use super::sink::{INBOX_BYTES, INBOX_EVENTS, Sink};
use super::stream::ChatStream;
use crate::inbox::{Batch, InboxReceiver, InboxSender, inbox};
use crate::time::{deadline_after, sleep_until};
use crate::{Error, ErrorKind};

/// The most chunks without content held back before they are delivered anyway (which
/// ends retrying for that request).
pub const HOLD_MAX: usize = 32;

/// When and how often to try a failed request again.
///
/// Only errors that [`Error::is_retryable`] are retried (rate limits, 5xx, timeouts, lost
/// connections; not an exhausted quota, a bad key or a bad request), and only before the
/// first content was delivered.
///
/// # Before the first content only
///
/// Until a chunk carries text, a refusal or a tool call, the chunks of an attempt are
/// held back (the role chunk, comments, empty deltas; at most [`HOLD_MAX`] of them); an
/// attempt that fails then is dropped whole, held chunks included, and the next one
/// starts clean. Once content has been delivered, an error is final: it arrives as the
/// stream's [`ChatEvent::Error`] with what was received, and nothing is retried or sent
/// elsewhere, so no text is ever delivered twice.
///
/// # Waits
///
/// The wait before retry `n`
/// (counting from 0) is the server's [`Error::retry_after`] (`retry-after-ms` or
/// `retry-after`) when it gave one, else `initial_backoff × 2ⁿ`, capped at
/// `max_backoff`, less a random part of up to `jitter` of it.
///
/// ```
/// use std::time::Duration;
/// use vivavoce::chat::RetryPolicy;
/// let policy = RetryPolicy::default().max_attempts(5).timeout(Duration::from_secs(30));
/// assert_eq!(policy.backoff(10), policy.max_backoff);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Attempts per request (per config, for a router), the first included; 1: no
    /// retry. Default 3.
    pub max_attempts: u32,
    /// The wait before the first retry, without a `retry-after`. Default 500 ms.
    pub initial_backoff: Duration,
    /// The longest computed wait. Default 8 s.
    pub max_backoff: Duration,
    /// The share of each computed wait taken off at random, from 0 to 1, so that clients
    /// do not retry in step. Default 0.5.
    pub jitter: f64,
    /// The longest `retry-after` honoured; a server asking for more is not retried (a
    /// router falls back at once). Default 60 s.
    pub max_retry_after: Duration,
    /// The time from the start within which the answer must begin: attempts may begin
    /// and waits must end within it, and an attempt still without content when it
    /// passes is stopped, ending the request with the error of the last attempt that
    /// answered, or [`Error::Timeout`] when none did. An answer already
    /// delivering content is not cut (that is [`ChatOptions::http_timeout`]'s). Default
    /// `None`: no limit.
    pub timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            jitter: 0.5,
            max_retry_after: Duration::from_secs(60),
            timeout: None,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        RetryPolicy::default().max_attempts(1)
    }

    /// Sets `max_attempts` (0 counts as 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets `initial_backoff` and `max_backoff`.
    pub fn backoff_range(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets `jitter` (kept within 0 to 1).
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = share;
        self
    }

    /// Sets `timeout`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Whether this error may be retried: [`Error::is_retryable`].
    pub fn should_retry(&self, error: &Error) -> bool {
        error.is_retryable()
    }

    /// The computed wait before retry `n` (from 0), jitter not applied: capped
    /// exponential.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.checked_pow(n).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }

    /// The wait before retry `n` after `error`: its `retry-after` when given, else the
    /// backoff less its jitter.
    pub fn delay(&self, n: u32, error: &Error) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait;
        }
        let base = self.backoff(n);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        base.mul_f64(1.0 - jitter * fastrand::f64())
    }
}

/// [`stream`](super::stream()) with retries: the same events, the request tried again
/// per `policy` while it fails before any content was delivered (see
/// [`RetryPolicy`]: never after, so no text comes twice). Stopping and dropping work as on any [`ChatStream`].
///
/// # Errors
///
/// Before any I/O, as [`stream`](super::stream()): [`Error::InvalidOption`],
/// [`Error::MissingApiKey`], [`Error::NoRuntime`].
pub fn stream_with_retry(options: ChatOptions, policy: RetryPolicy) -> Result<ChatStream, Error> {
    stream_candidates(vec![options], policy, fallback_on)
}

/// Whether another config is worth trying after this error (before content): what may
/// be retried, and an exhausted quota (another provider has its own).
pub(super) fn fallback_on(error: &Error) -> bool {
    error.is_retryable() || error.kind() == ErrorKind::QuotaExceeded
}

/// Runs the candidates in turn (each retried per `policy`), forwarding one request's
/// events. Candidates whose options are refused before I/O are left out; if all are, the
/// first one's error is returned.
pub(super) fn stream_candidates(
    candidates: Vec<ChatOptions>,
    policy: RetryPolicy,
    falls_back: fn(&Error) -> bool,
) -> Result<ChatStream, Error> {
    let mut first_error = None;
    let mut ready = Vec::with_capacity(candidates.len());
    for options in candidates {
        match options.prepare() {
            Ok(_) => ready.push(options),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if ready.is_empty() {
        return Err(first_error.unwrap_or(Error::InvalidOption {
            option: "configs",
            message: "no config to send the request to".to_owned(),
        }));
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::NoRuntime {
            function: "chat::stream_with_retry",
        });
    }
    let token = CancellationToken::new();
    let (tx, rx) = inbox(INBOX_EVENTS, INBOX_BYTES);
    tokio::spawn(drive(ready, policy, falls_back, tx, token.clone()));
    Ok(ChatStream::from_parts(rx, StopHandle::from_token(token)))
}

/// The wrapper task.
async fn drive(
    candidates: Vec<ChatOptions>,
    policy: RetryPolicy,
    falls_back: fn(&Error) -> bool,
    tx: InboxSender<ChatEvent>,
    token: CancellationToken,
) {
    let deadline = policy.timeout.map(deadline_after);
    let limit = policy.timeout.zip(deadline);
    let count = candidates.len();
    // The last answer's error: when the deadline stops a later attempt, the request ends
    // with it rather than with a bare timeout.
    let mut last: Option<Box<ChatError>> = None;
    for (i, options) in candidates.into_iter().enumerate() {
        let mut retry = 0u32;
        let failed = loop {
            let error = match attempt(&options, &tx, &token, limit).await {
                Attempt::Done => return,
                Attempt::Failed(e) => e,
                Attempt::TimedOut(timeout) => break last.take().unwrap_or(timeout),
            };
            last = Some(error.clone());
            if retry + 1 >= policy.max_attempts || !policy.should_retry(&error.error) {
                break error;
            }
            let wait = policy.delay(retry, &error.error);
            let in_time = deadline
                .is_none_or(|d| Instant::now().checked_add(wait).is_some_and(|end| end < d));
            if wait > policy.max_retry_after || !in_time {
                break error;
            }
            retry += 1;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = token.cancelled() => return stopped(&tx).await,
            }
        };
        let in_time = deadline.is_none_or(|d| Instant::now() < d);
        if i + 1 == count || !falls_back(&failed.error) || !in_time {
            tx.send(ChatEvent::Error(failed)).await;
            return;
        }
        if token.is_cancelled() {
            return stopped(&tx).await;
        }
    }
}

/// The end of a request stopped between attempts.
async fn stopped(tx: &InboxSender<ChatEvent>) {
    tx.send(ChatEvent::Complete(Box::new(Complete {
        reason: CompleteReason::Stopped,
        result: Default::default(),
        done_event: None,
    })))
    .await;
}

enum Attempt {
    /// Its terminal event was delivered (or nobody listens any more).
    Done,
    /// It failed before any content was delivered; nothing of it was.
    Failed(Box<ChatError>),
    /// The policy's deadline passed before any content; it was stopped.
    TimedOut(Box<ChatError>),
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One request, its events forwarded once content has come: what its task hands over
/// in one go is passed on in one go. Without content by the deadline of `limit` (the
/// policy's timeout, and when it ends), the request is stopped and fails as timed out.
async fn attempt(
    options: &ChatOptions,
    tx: &InboxSender<ChatEvent>,
    token: &CancellationToken,
    limit: Option<(Duration, Instant)>,
) -> Attempt {
    let (itx, mut irx): (_, InboxReceiver<ChatEvent>) = inbox(INBOX_EVENTS, INBOX_BYTES);
    let options = options
        .clone()
        .stream(true)
        .backpressure(Backpressure::Block);
    let stop = match start(options, Sink::Inbox(itx)) {
        Ok(stop) => stop,
        Err(error) => {
            return Attempt::Failed(Box::new(ChatError {
                error,
                partial: Default::default(),
            }));
        }
    };
    // Stopping the stream stops the request, wherever this task waits.
    let _watch = AbortOnDrop(tokio::spawn({
        let (token, stop) = (token.clone(), stop.clone());
        async move {
            token.cancelled().await;
            stop.stop();
        }
    }));
    let mut held: Batch<ChatEvent> = Batch::default();
    let mut committed = false;
    loop {
        let first = tokio::select! {
            first = poll_fn(|cx| irx.poll_recv(cx)) => first,
            () = sleep_until(limit.map(|(_, end)| end)), if !committed && limit.is_some() => {
                stop.stop();
                let after = limit.map_or(Duration::ZERO, |(after, _)| after);
                return Attempt::TimedOut(Box::new(ChatError {
                    error: Error::Timeout {
                        operation: "chat request (the retry policy's timeout, before any content)",
                        after,
                    },
                    partial: Default::default(),
                }));
            }
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        let mut terminal = false;
        while let Some(event) = next.take() {
            match event {
                ChatEvent::Chunk(c) if !committed => {
                    committed = has_content(&c) || held.len() + 1 >= HOLD_MAX;
                    held.push(ChatEvent::Chunk(c));
                }
                ChatEvent::Error(e) if !committed && !token.is_cancelled() => {
                    return Attempt::Failed(e);
                }
                event @ ChatEvent::Chunk(_) => held.push(event),
                event => {
                    held.push(event);
                    terminal = true;
                    break;
                }
            }
            next = irx.try_recv();
        }
        if !committed && !terminal {
            continue;
        }
        if tx.publish(&mut held).await.is_err() {
            stop.stop();
            return Attempt::Done;
        }
        if terminal {
            return Attempt::Done;
        }
    }
    Attempt::Done
}

/// Whether a chunk carries something of the answer: text, a refusal, a tool call, or
/// data that did not parse (which cannot be judged).
fn has_content(c: &Chunk) -> bool {
    let Some(delta) = &c.delta else {
        return !c.done;
    };
    let some = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    delta
        .choices
        .iter()
        .any(|ch| some(&ch.content) || some(&ch.refusal) || !ch.tool_calls.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_exponential_and_jitter_only_shortens() {
        let p = RetryPolicy::default()
            .backoff_range(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(800));
        assert_eq!(p.backoff(4), Duration::from_secs(1));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(1));
        let e = Error::transport(std::io::Error::other("reset"));
        for n in 0..20 {
            let d = p.delay(n, &e);
            assert!(d <= p.backoff(n) && d >= p.backoff(n) / 2, "{d:?}");
        }
        let odd = p.clone().jitter(f64::NAN);
        assert_eq!(odd.delay(0, &e), Duration::from_millis(100));
        assert_eq!(RetryPolicy::default().max_attempts(0).max_attempts, 1);
    }

    #[test]
    fn retry_after_wins_over_backoff() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after-ms", "1234".parse().unwrap());
        let e = Error::http_status(429, "u", String::new(), Some(&h));
        assert_eq!(
            RetryPolicy::default().delay(0, &e),
            Duration::from_millis(1234)
        );
    }

    #[test]
    fn kinds_decide_what_is_retried_and_what_falls_back() {
        let quota_type = r#"{"error":{"message":"no credit","type":"insufficient_quota"}}"#;
        let cases = [
            (400, "", ErrorKind::InvalidRequest, false),
            (403, "", ErrorKind::Permission, false),
            (422, "", ErrorKind::InvalidRequest, false),
            (429, quota_type, ErrorKind::QuotaExceeded, true),
            (429, "", ErrorKind::RateLimited, true),
            (529, "", ErrorKind::Server, true),
            (503, "", ErrorKind::Server, true),
        ];
        for (status, body, kind, falls_back) in cases {
            let e = Error::http_status(status, "u", body.into(), None);
            assert_eq!(e.kind(), kind, "{status}");
            assert_eq!(fallback_on(&e), falls_back, "{status}");
            assert_eq!(
                RetryPolicy::default().should_retry(&e),
                falls_back && kind != ErrorKind::QuotaExceeded
            );
        }
        let timeout = Error::Timeout {
            operation: "x",
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        let parse = Error::InvalidResponse {
            url: "u".into(),
            message: "m".into(),
        };
        assert_eq!(parse.kind(), ErrorKind::Parse);
    }
}
