//! Local events: what the connection itself reports, in the same stream as the server's.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::Error;

/// The connection was lost (transport error, pong timeout, or a close the client did
/// not ask for).
///
/// Without a reconnect policy (or when reconnecting gives up) this is the receiver's last
/// event, and `will_reconnect` is false. With one, `will_reconnect` is true and a
/// [`Reconnected`] event follows once a new connection is up.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Disconnected {
    /// Why the connection ended.
    #[serde(serialize_with = "error_as_text")]
    pub error: Error,
    /// The close code the server sent, if it sent a close frame.
    pub close_code: Option<u16>,
    /// Whether a reconnect is being attempted.
    pub will_reconnect: bool,
    /// Events that `send` accepted and that were never written, now dropped: always 0
    /// while `will_reconnect` (they are written on the new connection).
    pub unsent: usize,
}

impl Disconnected {
    /// The `type` local disconnect events serialise with.
    pub const TYPE: &'static str = "vivavoce.disconnected";

    pub(crate) fn new(
        error: Error,
        close_code: Option<u16>,
        will_reconnect: bool,
        unsent: usize,
    ) -> Self {
        Disconnected {
            error,
            close_code,
            will_reconnect,
            unsent,
        }
    }
}

/// A new connection replaced a lost one. It is a new server session: the conversation
/// starts empty; the merged `session.update`s were sent again and queued events flushed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Reconnected {
    /// Which attempt succeeded (1 for the first).
    pub attempt: u32,
    /// How long the connection was down.
    #[serde(serialize_with = "duration_ms")]
    pub downtime: Duration,
    /// Whether a `session.update` was replayed.
    pub session_replayed: bool,
    /// How many events queued during the outage were sent.
    pub flushed_events: usize,
}

impl Reconnected {
    /// The `type` local reconnect events serialise with.
    pub const TYPE: &'static str = "vivavoce.reconnected";
}

impl PartialEq for Disconnected {
    fn eq(&self, other: &Self) -> bool {
        self.error.to_string() == other.error.to_string()
            && self.close_code == other.close_code
            && self.will_reconnect == other.will_reconnect
            && self.unsent == other.unsent
    }
}

/// Local event `vivavoce.warning`: an incoming event broke the contract it was checked
/// against ([`ConnectOptions::check`](crate::realtime::ConnectOptions::check)). It is
/// delivered just before that event, which arrives as usual; the session goes on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// The checked event's type.
    pub event_type: String,
    /// What was wrong, one violation per line (`/path: message`).
    pub message: String,
}

impl Warning {
    /// The event's `type`.
    pub const TYPE: &'static str = "vivavoce.warning";

    /// A warning about an event of `event_type`.
    pub fn new(event_type: impl Into<String>, message: impl Into<String>) -> Self {
        Warning {
            event_type: event_type.into(),
            message: message.into(),
        }
    }
}

fn error_as_text<S: Serializer>(e: &Error, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

fn duration_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
