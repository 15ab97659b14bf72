//! Options of the Realtime simulator.

/// How fast the simulator sends a response's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pace {
    /// 100 ms of audio every 100 ms, as the API does. The default.
    #[default]
    RealTime,
    /// Everything at once (for tests).
    Fast,
}

/// What the simulator does.
///
/// ```
/// use vivavoce::mock::{Pace, SimulatorOptions};
/// let options = SimulatorOptions::default().reply_text("Hi there!").pace(Pace::Fast);
/// assert_eq!(options.api_key.as_deref(), Some("sk-simulator"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct SimulatorOptions {
    /// The key clients must present (`Bearer` or `api-key`); default `sk-simulator`.
    /// `None` accepts any key.
    pub api_key: Option<String>,
    /// What the assistant says in each response; default a short greeting.
    pub reply_text: String,
    /// How fast audio is sent; default [`Pace::RealTime`].
    pub pace: Pace,
    /// Drop the TCP connection (no close frame) after this many server events; default never.
    pub drop_after_events: Option<usize>,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            api_key: Some("sk-simulator".to_owned()),
            reply_text: "Hello! I am the vivavoce simulator. How can I help?".to_owned(),
            pace: Pace::RealTime,
            drop_after_events: None,
        }
    }
}

impl SimulatorOptions {
    /// Sets [`reply_text`](Self::reply_text).
    pub fn reply_text(mut self, text: impl Into<String>) -> Self {
        self.reply_text = text.into();
        self
    }

    /// Sets [`pace`](Self::pace).
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// Sets [`drop_after_events`](Self::drop_after_events).
    pub fn drop_after_events(mut self, n: usize) -> Self {
        self.drop_after_events = Some(n);
        self
    }
}
