//! Where a session goes: the live API when `OPENAI_API_KEY` is set, else a built-in
//! simulator started for this run; exactly one line (on standard error) says which.

use std::time::Duration;

use clap::{Args, ValueEnum};
use vivavoce::chat::ChatOptions;
use vivavoce::mock::{
    ChatSimulator, ChatSimulatorOptions, Pace, RealtimeSimulator, SimulatorOptions,
};
use vivavoce::realtime::{ConnectOptions, EventReceiver, EventSender, connect};

use crate::arg_values;
use crate::exit::{Failure, context};
use crate::term::note;

/// The help heading of the simulator's flags in `talk`, `ptt` and `chat`.
pub const OFFLINE: &str = "Simulator (offline, without OPENAI_API_KEY)";

/// Whether `OPENAI_API_KEY` is set (and not blank).
pub fn live() -> bool {
    std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty())
}

/// How fast the simulator sends audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaceArg {
    /// 100 ms of audio every 100 ms, as the API does.
    Realtime,
    /// Everything at once.
    Fast,
}

/// What the built-in Realtime simulator does: flags of `simulate`, and of `talk` and
/// `ptt` when they run offline (under [`OFFLINE`]).
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// What the simulated assistant says in each response.
    #[arg(long, value_name = "TEXT")]
    pub reply: Option<String>,
    /// How fast the simulator sends its audio.
    #[arg(long, value_enum, value_name = "PACE", default_value = "realtime")]
    pub pace: PaceArg,
    /// A function the simulated model calls when it answers the user (repeat for calls
    /// in parallel); its next response quotes the outputs.
    #[arg(long = "call", value_name = "NAME=ARGS", value_parser = arg_values::call)]
    pub calls: Vec<(String, String)>,
    /// What the simulated transcription says the user said.
    #[arg(long, value_name = "TEXT")]
    pub user_says: Option<String>,
    /// Report every input transcription as failed.
    #[arg(long)]
    pub fail_transcription: bool,
    /// Wait this long before each response (e.g. 300ms, 1.5s).
    #[arg(long, value_name = "DURATION", value_parser = arg_values::duration)]
    pub response_delay: Option<Duration>,
    /// Delay each response event by a random time up to this.
    #[arg(long, value_name = "DURATION", value_parser = arg_values::duration)]
    pub jitter: Option<Duration>,
}

impl SimArgs {
    /// The simulator's options these flags give.
    pub fn options(&self) -> SimulatorOptions {
        let mut o = SimulatorOptions::default().pace(match self.pace {
            PaceArg::Realtime => Pace::RealTime,
            PaceArg::Fast => Pace::Fast,
        });
        if let Some(r) = &self.reply {
            o = o.reply_text(r);
        }
        for (name, args) in &self.calls {
            o = o.function_call(name, args);
        }
        if let Some(t) = &self.user_says {
            o = o.input_transcript(t);
        }
        if let Some(d) = self.response_delay {
            o = o.response_delay(d);
        }
        if let Some(d) = self.jitter {
            o = o.jitter(d);
        }
        o.fail_transcription(self.fail_transcription)
    }

    /// Whether any flag was given (they mean nothing against the live API).
    fn given(&self) -> bool {
        self.reply.is_some()
            || self.pace != PaceArg::Realtime
            || !self.calls.is_empty()
            || self.user_says.is_some()
            || self.fail_transcription
            || self.response_delay.is_some()
            || self.jitter.is_some()
    }
}

/// A Realtime session's two ends, and the simulator serving it when offline.
pub struct Session {
    pub tx: EventSender,
    pub rx: EventReceiver,
    /// Keeps the built-in simulator running for the session (`None` when live).
    pub _simulator: Option<RealtimeSimulator>,
}

/// Connects to the live API (`model`) or to a simulator started with `sim`, after
/// `prepare` adds to the options (hooks); prints the one line that says which.
pub async fn connect_realtime(
    model: &str,
    sim: &SimArgs,
    prepare: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> Result<Session, Failure> {
    let (options, simulator) = if live() {
        let ignored = if sim.given() {
            "; the simulator's flags are ignored"
        } else {
            ""
        };
        note!("OPENAI_API_KEY is set: using the OpenAI Realtime API ({model}){ignored}");
        (ConnectOptions::default(), None)
    } else {
        let simulator = RealtimeSimulator::start(sim.options())
            .await
            .map_err(context("starting the simulator"))?;
        note!(
            "OPENAI_API_KEY is not set: using the built-in simulator at {}",
            simulator.base_url()
        );
        (simulator.connect_options(), Some(simulator))
    };
    let options = prepare(options.model(model));
    let url = options.url();
    let (tx, rx) = connect(options)
        .await
        .map_err(|e| Failure::from_error(&format!("connecting to {url}"), &e))?;
    Ok(Session {
        tx,
        rx,
        _simulator: simulator,
    })
}

/// A chat request's options for the live API, or for a chat simulator started to answer
/// `reply` (kept running by the returned value); prints the one line that says which.
pub async fn chat_target(
    options: ChatOptions,
    reply: Option<&str>,
) -> Result<(ChatOptions, Option<ChatSimulator>), Failure> {
    if live() {
        let ignored = if reply.is_some() {
            "; --reply is ignored"
        } else {
            ""
        };
        note!(
            "OPENAI_API_KEY is set: using the OpenAI Chat Completions API ({}){ignored}",
            options.model
        );
        return Ok((options, None));
    }
    let mut sim_options = ChatSimulatorOptions::default();
    if let Some(r) = reply {
        sim_options = sim_options.reply_text(r);
    }
    let simulator = ChatSimulator::start(sim_options)
        .await
        .map_err(context("starting the chat simulator"))?;
    note!(
        "OPENAI_API_KEY is not set: using the built-in chat simulator at {}",
        simulator.url()
    );
    let options = options.url(simulator.url()).api_key("sk-simulator");
    Ok((options, Some(simulator)))
}
