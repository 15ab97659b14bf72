//! The conversation layer: an optional layer over a session that keeps the bookkeeping
//! every voice app needs, usable with or without audio.
//!
//! [`Conversation`] takes the session's [`EventSender`] and [`EventReceiver`] (from
//! [`connect`](crate::realtime::connect), or the receiver an
//! [`audio::Playback`](https://docs.rs/vivavoce/latest/vivavoce/audio/struct.Playback.html)
//! returns). Its [`recv`](Conversation::recv) hands on every server event unchanged, in
//! order ([`ConversationEvent::Server`]), each followed by what the layer made of it:
//!
//! - **State.** The items in order ([`items`](Conversation::items)), each with its text
//!   or transcript assembled from the deltas ([`ConversationEvent::Text`]); an assistant
//!   item truncated at a barge-in has its transcript cut where the user stopped hearing
//!   it ([`ConversationEvent::Truncated`]).
//! - **Tools.** Register [`Function`]s; the layer declares them in `session.update`,
//!   assembles each call's arguments, checks them against the function's JSON Schema
//!   (broken JSON or a violation: the handler is not called and the model gets an error
//!   to recover from), runs the handlers with a timeout (the calls of one response run
//!   at the same time), sends each `function_call_output` and then one
//!   `response.create`. MCP approval requests arrive as [`ConversationEvent::McpApproval`].
//! - **Sequencing.** [`create_response`](Conversation::create_response) sends at once
//!   when no response is active and otherwise waits for `response.done`, so a second
//!   request never meets `conversation_already_has_active_response`; out-of-band
//!   requests (`conversation: "none"`) never wait.
//! - **Usage.** Tokens per response ([`ConversationEvent::ResponseDone`]) and for the
//!   session ([`usage`](Conversation::usage)), with a cost estimate from [`Prices`];
//!   the latest `rate_limits.updated` ([`rate_limits`](Conversation::rate_limits)).
//! - **Turn latency.** For each turn, from the end of the user's speech to
//!   `response.created`, the first audio, the first sample heard (with a
//!   [`PlayedAudio`] source) and `response.done` ([`ConversationEvent::Turn`]), running
//!   percentiles ([`latency`](Conversation::latency)) and a latency budget
//!   ([`ConversationEvent::LatencyBudget`]).
//!
//! Send other events with the [`EventSender`] as usual; ask for responses through the
//! layer so it can sequence them.

mod event;
mod items;
mod latency;
mod observe;
mod options;
mod sequencer;
mod tools;
mod usage;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use tokio::task::JoinSet;

pub use event::{
    ConversationEvent, LatencyAlert, LatencyLevel, McpApproval, ResponseSummary, TextDelta,
    TextSource, ToolCall, ToolOutcome, TranscriptCut, TurnLatency,
};
pub use items::ConversationItem;
pub use latency::{LatencyStats, Percentiles, PlayedAudio, PlayedItem};
pub use options::ConversationOptions;
pub use sequencer::Requested;
pub use tools::Function;
pub use usage::{Prices, ResponseUsage};

use crate::Error;
use crate::realtime::events::{
    ConversationItemCreate, RateLimit, ResponseCancel, ResponseCreate, SessionUpdate,
};
use crate::realtime::{ClientEvent, EventReceiver, EventSender, Item, ServerEvent};
use crate::time::sleep_until;
use items::Items;
use latency::Turns;
use observe::Calls;
use sequencer::Sequencer;
use tools::Tools;

/// A session with its conversation kept: see the [module docs](self).
///
/// Dropping it ends the session's handles it holds and aborts any function handler
/// still running.
#[derive(Debug)]
pub struct Conversation {
    tx: EventSender,
    rx: EventReceiver,
    items: Items,
    seq: Sequencer,
    tools: Tools,
    running: JoinSet<observe::Finished>,
    calls: Calls,
    /// Events to send, in order, before anything else the layer sends.
    outbox: VecDeque<ClientEvent>,
    ready: VecDeque<ConversationEvent>,
    usage: ResponseUsage,
    rate_limits: Vec<RateLimit>,
    turns: Turns,
    prices: Option<Prices>,
    respond_after_tools: bool,
    out_of_band: HashSet<String>,
    /// Bytes a second of the session's output audio.
    output_rate: u32,
    /// The user item whose end of speech started the current turn.
    speech_item: Option<String>,
    /// Function names by call item (from `response.output_item.added`).
    call_names: HashMap<String, String>,
    /// MCP approval requests already reported.
    approvals: HashSet<String>,
    ended: bool,
}

impl Conversation {
    /// Starts the layer over a session. When `options` has a session or functions, the
    /// `session.update` (the session with the functions' tools) is sent before this
    /// returns, so whatever you send next already meets the session's settings.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a function whose schema does not compile, a name
    /// registered twice, or an option out of range (before anything is sent); the
    /// [`EventSender::send`] error when the session is closed.
    ///
    /// # Cancel safety
    /// Not cancel-safe: cancelled, it drops the session's handles it was given.
    pub async fn start(
        tx: EventSender,
        rx: EventReceiver,
        options: ConversationOptions,
    ) -> Result<Self, Error> {
        let mut conversation = Self::new(tx, rx, options)?;
        conversation.flush().await?;
        Ok(conversation)
    }

    fn new(
        tx: EventSender,
        rx: EventReceiver,
        options: ConversationOptions,
    ) -> Result<Self, Error> {
        options.validate()?;
        let tools = Tools::new(options.functions, options.tool_timeout)?;
        let mut outbox = VecDeque::new();
        if options.session.is_some() || !tools.is_empty() {
            let mut session = options.session.unwrap_or_default();
            if !tools.is_empty() {
                let mut declared = session.tools.take().unwrap_or_default();
                declared.extend(tools.declared());
                session.tools = Some(declared);
            }
            outbox.push_back(SessionUpdate::new(session).into());
        }
        Ok(Conversation {
            tx,
            rx,
            items: Items::new(options.max_items),
            seq: Sequencer::new(options.coalesce),
            tools,
            running: JoinSet::new(),
            calls: Calls::default(),
            outbox,
            ready: VecDeque::new(),
            usage: ResponseUsage::default(),
            rate_limits: Vec::new(),
            turns: Turns::new(options.latency_budget, options.played),
            prices: options.prices,
            respond_after_tools: options.respond_after_tools,
            out_of_band: HashSet::new(),
            output_rate: 48_000,
            speech_item: None,
            call_names: HashMap::new(),
            approvals: HashSet::new(),
            ended: false,
        })
    }

    /// The next event: a server event, or a notification derived from the one before.
    /// `None` when the session's events have ended.
    ///
    /// While it waits it also sends what the layer has to send (the session update,
    /// queued responses, function outputs) and collects finished function handlers, so
    /// keep calling it.
    ///
    /// # Cancel safety
    /// Cancel-safe: a cancelled `recv` loses no event and leaves nothing half sent.
    pub async fn recv(&mut self) -> Option<ConversationEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            #[allow(clippy::large_enum_variant)] // lives on the stack for one event
            enum Got {
                Sent(Result<(), Error>),
                Call(observe::Finished),
                Event(Option<ServerEvent>),
                Tick,
            }
            let wake = self.turns.next_wakeup().map(tokio::time::Instant::from_std);
            let front = self.outbox.front().cloned();
            let has_front = front.is_some();
            let tx = &self.tx;
            let running = &mut self.running;
            let rx = &mut self.rx;
            let got = tokio::select! {
                biased;
                r = async move {
                    match front {
                        Some(event) => tx.send(event).await,
                        None => Ok(()),
                    }
                }, if has_front => Got::Sent(r),
                Some(Ok(done)) = running.join_next(), if !running.is_empty() => Got::Call(done),
                event = rx.recv() => Got::Event(event),
                () = sleep_until(wake), if wake.is_some() => Got::Tick,
            };
            match got {
                Got::Sent(result) => {
                    self.outbox.pop_front();
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "conversation: an event could not be sent");
                    }
                }
                Got::Call(done) => self.call_finished(done),
                Got::Event(Some(event)) => self.apply(event),
                Got::Event(None) => self.ended = true,
                Got::Tick => self.tick(),
            }
        }
    }

    /// Asks for a response. In the default conversation it is sent at once when no
    /// response is active or asked for, and otherwise waits for the active one's
    /// `response.done` (merged with an equal waiting request when
    /// [`coalesce`](ConversationOptions::coalesce) is set). Out-of-band requests
    /// (`conversation: "none"`) are sent at once.
    ///
    /// # Cancel safety
    /// Cancel-safe in that nothing is lost: a request taken but not yet written goes out
    /// with the next `recv` or request.
    ///
    /// # Errors
    /// The [`EventSender::send`] error when the session is closed.
    pub async fn create_response(&mut self, request: ResponseCreate) -> Result<Requested, Error> {
        let requested = self.request(request);
        self.flush().await?;
        Ok(requested)
    }

    /// Cancels the active response (`response.cancel`); requests waiting stay queued.
    /// Returns whether a response was active or asked for.
    ///
    /// # Cancel safety
    /// As [`create_response`](Self::create_response).
    pub async fn cancel_response(&mut self) -> Result<bool, Error> {
        let busy = self.seq.busy();
        if busy {
            self.outbox.push_back(ResponseCancel::default().into());
        }
        self.flush().await?;
        Ok(busy)
    }

    /// Drops the requests waiting for the active response; returns how many.
    pub fn clear_queued(&mut self) -> usize {
        self.seq.clear()
    }

    /// Requests waiting for the active response.
    pub fn queued(&self) -> usize {
        self.seq.queued()
    }

    /// Whether a response of the default conversation is active or asked for.
    pub fn response_active(&self) -> bool {
        self.seq.busy()
    }

    /// Approves an MCP tool call ([`ConversationEvent::McpApproval`]) and asks for the
    /// response that runs it.
    ///
    /// # Cancel safety
    /// As [`create_response`](Self::create_response).
    pub async fn approve(&mut self, approval_request_id: &str) -> Result<(), Error> {
        self.answer_approval(approval_request_id, true).await
    }

    /// Denies an MCP tool call and asks for the response that says so.
    ///
    /// # Cancel safety
    /// As [`create_response`](Self::create_response).
    pub async fn deny(&mut self, approval_request_id: &str) -> Result<(), Error> {
        self.answer_approval(approval_request_id, false).await
    }

    async fn answer_approval(&mut self, id: &str, approve: bool) -> Result<(), Error> {
        let item: Item = serde_json::from_value(serde_json::json!({
            "type": "mcp_approval_response", "approval_request_id": id, "approve": approve
        }))
        .map_err(|e| Error::InvalidOption {
            option: "approval_request_id",
            message: e.to_string(),
        })?;
        self.outbox
            .push_back(ConversationItemCreate::new(item).into());
        self.request(ResponseCreate::default());
        self.flush().await
    }

    /// The items of the conversation, in order (out-of-band items are marked).
    pub fn items(&self) -> &[ConversationItem] {
        self.items.all()
    }

    /// One item.
    pub fn item(&self, id: &str) -> Option<&ConversationItem> {
        self.items.get(id)
    }

    /// The session's tokens so far (summed over every `response.done`), and their
    /// estimated cost when [`prices`](ConversationOptions::prices) are set.
    pub fn usage(&self) -> &ResponseUsage {
        &self.usage
    }

    /// The latest `rate_limits.updated`.
    pub fn rate_limits(&self) -> &[RateLimit] {
        &self.rate_limits
    }

    /// Percentiles of the recent turns' latencies.
    pub fn latency(&self) -> LatencyStats {
        self.turns.stats()
    }

    /// The session's sender.
    pub fn sender(&self) -> &EventSender {
        &self.tx
    }

    /// Takes a request into the sequencer; what goes out now joins the outbox.
    fn request(&mut self, request: ResponseCreate) -> Requested {
        let oob = sequencer::out_of_band(&request);
        let (requested, now) = self.seq.request(request);
        if let Some(event) = now {
            if !oob {
                self.turns.started(Instant::now(), false);
            }
            self.outbox.push_back(event.into());
        }
        requested
    }

    /// Sends the outbox in order (each event leaves it once written).
    async fn flush(&mut self) -> Result<(), Error> {
        while let Some(event) = self.outbox.front() {
            self.tx.send(event.clone()).await?;
            self.outbox.pop_front();
        }
        Ok(())
    }

    fn apply(&mut self, event: ServerEvent) {
        let mark = self.ready.len();
        self.observe(&event, Instant::now());
        self.ready.insert(mark, ConversationEvent::Server(event));
    }

    fn tick(&mut self) {
        let (mut alerts, mut turns) = (Vec::new(), Vec::new());
        self.turns.tick(Instant::now(), &mut alerts, &mut turns);
        self.ready
            .extend(alerts.into_iter().map(ConversationEvent::LatencyBudget));
        self.ready
            .extend(turns.into_iter().map(ConversationEvent::Turn));
    }
}

/// Internals exposed for the benchmarks in `benches/`; not part of the API.
#[doc(hidden)]
pub mod bench {
    use super::{Conversation, ConversationOptions};
    use crate::realtime::ServerEvent;

    /// A conversation fed events by hand (its session's channels lead nowhere).
    #[allow(missing_debug_implementations)]
    pub struct Fed(Conversation);

    impl Fed {
        /// A layer with `options`.
        pub fn new(options: ConversationOptions) -> Self {
            let (cmd, _) = tokio::sync::mpsc::channel(1);
            let (_, evt) = tokio::sync::mpsc::channel(1);
            let budget = std::sync::Arc::new(crate::realtime::handle::SendBudget::new(1 << 20));
            let tx = crate::realtime::EventSender::new(cmd, budget, None, None);
            let rx = crate::realtime::EventReceiver::new(evt);
            Fed(Conversation::new(tx, rx, options).expect("valid options"))
        }

        /// Takes one event as `recv` would and hands it back (the notifications it
        /// derived are dropped).
        pub fn feed(&mut self, event: ServerEvent) -> ServerEvent {
            self.0.apply(event);
            let mut handed_on = None;
            for e in self.0.ready.drain(..) {
                if let super::ConversationEvent::Server(s) = e {
                    handed_on = Some(s);
                }
            }
            self.0.outbox.clear();
            handed_on.expect("every event is handed on")
        }
    }
}
