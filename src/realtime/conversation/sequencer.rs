//! Response sequencing: one response at a time in the default conversation. A
//! `response.create` asked for while one is active waits for its `response.done`;
//! out-of-band responses (`conversation: "none"`) never wait.

use std::collections::VecDeque;

use crate::realtime::events::{ErrorEvent, Response, ResponseCreate};

/// The error code of a `response.create` sent while a response is active.
const ALREADY_ACTIVE: &str = "conversation_already_has_active_response";

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    /// Sent, `response.created` not yet seen (kept to send again if refused).
    Requested(Box<ResponseCreate>),
    /// A response of the default conversation is in progress.
    Active(Option<String>),
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requested {
    /// Sent now.
    Sent,
    /// Waiting for the active response to finish.
    Queued,
    /// Merged into a request already waiting.
    Coalesced,
}

#[derive(Debug)]
pub(crate) struct Sequencer {
    state: State,
    queue: VecDeque<ResponseCreate>,
    coalesce: bool,
    next: u64,
}

/// Whether a request is out of band (never queued).
pub(crate) fn out_of_band(r: &ResponseCreate) -> bool {
    r.response
        .as_ref()
        .and_then(|c| c.conversation.as_deref())
        .is_some_and(|c| c == "none")
}

impl Sequencer {
    pub(crate) fn new(coalesce: bool) -> Self {
        Sequencer {
            state: State::Idle,
            queue: VecDeque::new(),
            coalesce,
            next: 0,
        }
    }

    /// Whether a response of the default conversation is active or asked for.
    pub(crate) fn busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Requests waiting.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Takes a request: `Some(event)` to send now, or `None` when it waits.
    pub(crate) fn request(&mut self, r: ResponseCreate) -> (Requested, Option<ResponseCreate>) {
        if out_of_band(&r) {
            return (Requested::Sent, Some(r));
        }
        if self.busy() {
            if self.coalesce && self.queue.back().is_some_and(|q| q.response == r.response) {
                return (Requested::Coalesced, None);
            }
            self.queue.push_back(r);
            return (Requested::Queued, None);
        }
        (Requested::Sent, Some(self.mark_sent(r)))
    }

    /// Gives the request an `event_id` (so an error about it can be matched) and
    /// remembers it as asked for.
    fn mark_sent(&mut self, mut r: ResponseCreate) -> ResponseCreate {
        self.next += 1;
        let next = self.next;
        r.event_id
            .get_or_insert_with(|| format!("vivavoce_response_{next}"));
        self.state = State::Requested(Box::new(r.clone()));
        r
    }

    /// `response.created`.
    pub(crate) fn created(&mut self, response: &Response) {
        if response.conversation_id.is_some() {
            self.state = State::Active(response.id.clone());
        }
    }

    /// `response.done`: the next request to send, if one waits.
    pub(crate) fn done(&mut self, response: &Response) -> Option<ResponseCreate> {
        // Out of band: nothing to do with the default conversation.
        response.conversation_id.as_ref()?;
        match &self.state {
            // A later request of ours is already on its way.
            State::Requested(_) => return None,
            State::Active(Some(id)) if response.id.as_ref() != Some(id) => return None,
            _ => {}
        }
        self.state = State::Idle;
        self.pop()
    }

    fn pop(&mut self) -> Option<ResponseCreate> {
        let next = self.queue.pop_front()?;
        Some(self.mark_sent(next))
    }

    /// An `error` event. A request of ours refused because a response (one the server
    /// started itself) is active waits for that one; any other error about our request
    /// frees the way for the next.
    pub(crate) fn error(&mut self, e: &ErrorEvent) -> Option<ResponseCreate> {
        let State::Requested(sent) = &self.state else {
            return None;
        };
        if e.error.event_id.is_none() || e.error.event_id != sent.event_id {
            return None;
        }
        if e.error.code.as_deref() == Some(ALREADY_ACTIVE) {
            let again = ResponseCreate {
                event_id: None,
                ..(**sent).clone()
            };
            self.queue.push_front(again);
            self.state = State::Active(None);
            return None;
        }
        self.state = State::Idle;
        self.pop()
    }

    /// Drops every waiting request; returns how many.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        n
    }

    /// A new server session (after a reconnect): nothing is active there.
    pub(crate) fn reset(&mut self) -> Option<ResponseCreate> {
        self.state = State::Idle;
        self.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::events::ResponseConfig;

    fn response(id: &str, conversation: Option<&str>) -> Response {
        serde_json::from_value(serde_json::json!({"id": id, "conversation_id": conversation}))
            .unwrap()
    }

    #[test]
    fn one_at_a_time_in_order() {
        let mut s = Sequencer::new(false);
        let (r, now) = s.request(ResponseCreate::default());
        assert_eq!(r, Requested::Sent);
        let first = now.unwrap();
        assert!(first.event_id.is_some());
        assert_eq!(s.request(ResponseCreate::default()).0, Requested::Queued);
        assert_eq!(s.request(ResponseCreate::default()).0, Requested::Queued);
        s.created(&response("r1", Some("c")));
        assert!(s.done(&response("r1", Some("c"))).is_some());
        s.created(&response("r2", Some("c")));
        assert!(s.done(&response("r2", Some("c"))).is_some());
        s.created(&response("r3", Some("c")));
        assert!(s.done(&response("r3", Some("c"))).is_none());
        assert!(!s.busy());
    }

    #[test]
    fn out_of_band_never_waits_and_frees_nothing() {
        let mut s = Sequencer::new(false);
        s.request(ResponseCreate::default());
        s.created(&response("r1", Some("c")));
        let oob = ResponseCreate {
            response: Some(ResponseConfig {
                conversation: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(s.request(oob).0, Requested::Sent);
        assert_eq!(s.request(ResponseCreate::default()).0, Requested::Queued);
        s.created(&response("o1", None));
        assert!(s.done(&response("o1", None)).is_none(), "out of band");
        assert!(s.done(&response("r1", Some("c"))).is_some());
    }

    #[test]
    fn coalesces_equal_requests() {
        let mut s = Sequencer::new(true);
        s.request(ResponseCreate::default());
        assert_eq!(s.request(ResponseCreate::default()).0, Requested::Queued);
        assert_eq!(s.request(ResponseCreate::default()).0, Requested::Coalesced);
        assert_eq!(s.queued(), 1);
    }

    #[test]
    fn refused_while_a_server_response_runs_then_sent_after_it() {
        let mut s = Sequencer::new(false);
        let sent = s.request(ResponseCreate::default()).1.unwrap();
        let id = sent.event_id.clone().unwrap();
        let e: ErrorEvent = serde_json::from_value(serde_json::json!({"error": {
            "type": "invalid_request_error", "code": ALREADY_ACTIVE, "message": "busy",
            "event_id": id}}))
        .unwrap();
        assert!(s.error(&e).is_none());
        s.created(&response("vad", Some("c")));
        let again = s.done(&response("vad", Some("c"))).unwrap();
        assert_ne!(again.event_id.as_deref(), Some(id.as_str()));
    }
}
