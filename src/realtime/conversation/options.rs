//! Options of the conversation layer.

use std::sync::Arc;
use std::time::Duration;

use super::latency::PlayedAudio;
use super::tools::Function;
use super::usage::Prices;
use crate::realtime::Session;

/// What the conversation layer does. Everything is optional.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use vivavoce::realtime::Session;
/// use vivavoce::realtime::conversation::{ConversationOptions, Function, Prices};
///
/// let options = ConversationOptions::default()
///     .session(Session::default().instructions("Be brief."))
///     .function(Function::new("now", "The time now.", json!({"type": "object"}),
///         |_| async { Ok(json!("12:00")) }))
///     .tool_timeout(Duration::from_secs(5))
///     .prices(Prices::default())
///     .latency_budget(Duration::from_millis(800), Duration::from_millis(1500));
/// # let _ = options;
/// ```
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
pub struct ConversationOptions {
    /// Sent in a `session.update` when the layer starts, with the functions' tools
    /// added; default none (only the tools, if there are functions).
    pub session: Option<Session>,
    /// The functions the model may call; default none.
    pub functions: Vec<Function>,
    /// How long a function handler may take before the model is told it timed out;
    /// default 10 s.
    pub tool_timeout: Duration,
    /// After a response's function calls are answered, ask for the next response
    /// (`response.create`); default true.
    pub respond_after_tools: bool,
    /// Merge a `response.create` asked for while an equal one already waits; default
    /// false (each request gets its response).
    pub coalesce: bool,
    /// Prices for the cost estimate; default none (no estimate).
    pub prices: Option<Prices>,
    /// Where the audio is played (a [`Playback`](https://docs.rs/vivavoce/latest/vivavoce/audio/struct.Playback.html)'s
    /// `positions()`): for the first-heard time and transcripts cut at the heard
    /// position; default none.
    pub played: Option<Arc<dyn PlayedAudio>>,
    /// `(warn, limit)`: alerts when a turn's wait passes each; default none.
    pub latency_budget: Option<(Duration, Duration)>,
    /// Items kept in memory (the oldest are forgotten past it; the server keeps them);
    /// default 1024.
    pub max_items: usize,
}

impl std::fmt::Debug for ConversationOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationOptions")
            .field("session", &self.session)
            .field("functions", &self.functions)
            .field("tool_timeout", &self.tool_timeout)
            .field("respond_after_tools", &self.respond_after_tools)
            .field("coalesce", &self.coalesce)
            .field("prices", &self.prices)
            .field("played", &self.played.is_some())
            .field("latency_budget", &self.latency_budget)
            .field("max_items", &self.max_items)
            .finish()
    }
}

impl Default for ConversationOptions {
    fn default() -> Self {
        ConversationOptions {
            session: None,
            functions: Vec::new(),
            tool_timeout: Duration::from_secs(10),
            respond_after_tools: true,
            coalesce: false,
            prices: None,
            played: None,
            latency_budget: None,
            max_items: 1024,
        }
    }
}

impl ConversationOptions {
    /// Sets [`session`](Self::session).
    pub fn session(mut self, session: Session) -> Self {
        self.session = Some(session);
        self
    }

    /// Adds a function to [`functions`](Self::functions).
    pub fn function(mut self, function: Function) -> Self {
        self.functions.push(function);
        self
    }

    /// Sets [`tool_timeout`](Self::tool_timeout).
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// Sets [`respond_after_tools`](Self::respond_after_tools).
    pub fn respond_after_tools(mut self, respond: bool) -> Self {
        self.respond_after_tools = respond;
        self
    }

    /// Sets [`coalesce`](Self::coalesce).
    pub fn coalesce(mut self, coalesce: bool) -> Self {
        self.coalesce = coalesce;
        self
    }

    /// Sets [`prices`](Self::prices).
    pub fn prices(mut self, prices: Prices) -> Self {
        self.prices = Some(prices);
        self
    }

    /// Sets [`played`](Self::played).
    pub fn played(mut self, played: impl PlayedAudio) -> Self {
        self.played = Some(Arc::new(played));
        self
    }

    /// Sets [`latency_budget`](Self::latency_budget).
    pub fn latency_budget(mut self, warn: Duration, limit: Duration) -> Self {
        self.latency_budget = Some((warn, limit));
        self
    }

    /// Sets [`max_items`](Self::max_items).
    pub fn max_items(mut self, max: usize) -> Self {
        self.max_items = max;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        let bad = |option, message: &str| {
            Err(crate::Error::InvalidOption {
                option,
                message: message.to_owned(),
            })
        };
        if self.tool_timeout.is_zero() {
            return bad("tool_timeout", "must be more than zero");
        }
        if self.max_items == 0 {
            return bad("max_items", "must be at least 1");
        }
        if let Some((warn, limit)) = self.latency_budget
            && (warn.is_zero() || limit < warn)
        {
            return bad(
                "latency_budget",
                "the warning must be more than zero and the limit at least the warning",
            );
        }
        Ok(())
    }
}
