//! What one event of a provider's stream means for the engine.

use super::delta::Delta;

/// What one event means for the engine.
#[derive(Debug)]
pub(crate) enum Read {
    /// A delta to accumulate and deliver (possibly empty, for keep-alives and events that
    /// say nothing new; with `error` set for an error event).
    Delta(Delta),
    /// The last event, which also carries a delta (Ollama's `done: true` line, the
    /// Responses API's `response.completed`): delivered, then the answer is complete.
    Last(Delta),
    /// An end marker with nothing to deliver (Anthropic's `message_stop`).
    Stop,
}

#[cfg(test)]
impl Read {
    /// The delta of an event that is not the end (tests of each format's reader).
    pub(crate) fn delta(self) -> Delta {
        match self {
            Read::Delta(d) => d,
            Read::Last(_) | Read::Stop => panic!("an end event where a delta was expected"),
        }
    }
}
