//! `vivavoce simulate`: the Realtime and Chat Completions simulators, for other programs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions, RealtimeSimulator};

use crate::arg_values;
use crate::exit::{Ended, Failure, Outcome};
use crate::session::SimArgs;
use crate::term::{note, out};

/// Run the Realtime and Chat Completions simulators until Ctrl-C.
///
/// The Realtime simulator listens on 127.0.0.1:PORT and the Chat Completions simulator on
/// PORT+1 (free ports without --port). It prints their URLs and the key they expect, one
/// a line, then waits; point a program at them with its base URL and key.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Exit status: 130 stopped by Ctrl-C; 2 a port cannot be \
bound, or bad arguments."
)]
pub struct SimulateArgs {
    /// The Realtime simulator's port; the chat simulator takes the next one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..65535))]
    port: Option<u16>,
    /// The key clients must present.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "sk-simulator",
        conflicts_with = "any_key"
    )]
    key: String,
    /// Accept any key.
    #[arg(long)]
    any_key: bool,
    #[command(flatten, next_help_heading = "Realtime simulator")]
    realtime: SimArgs,
    /// Drop each connection (no close frame) after this many server events.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    drop_after: Option<usize>,
    /// Close each connection with CODE after N server events.
    #[arg(long, value_name = "N:CODE", value_parser = close_after, help_heading = "Faults")]
    close_after: Option<(usize, u16)>,
    /// End each session with the API's session_expired error after this long.
    #[arg(long, value_name = "DURATION", value_parser = arg_values::positive_duration, help_heading = "Faults")]
    expire_after: Option<Duration>,
    /// What the chat simulator answers (default: the same as --reply, if given).
    #[arg(long, value_name = "TEXT", help_heading = "Chat simulator")]
    chat_reply: Option<String>,
    /// A pause between the chat simulator's chunks.
    #[arg(long, value_name = "DURATION", value_parser = arg_values::duration, help_heading = "Chat simulator")]
    chunk_delay: Option<Duration>,
}

fn close_after(text: &str) -> Result<(usize, u16), String> {
    let bad = || format!("`{text}`: expected N:CODE, e.g. 20:1011");
    let (n, code) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        n.parse().map_err(|_| bad())?,
        code.parse().map_err(|_| bad())?,
    ))
}

pub async fn run(args: SimulateArgs) -> Outcome {
    let key = (!args.any_key).then(|| args.key.clone());
    let mut realtime = args.realtime.options();
    realtime.api_key.clone_from(&key);
    if let Some(n) = args.drop_after {
        realtime = realtime.drop_after_events(n);
    }
    if let Some((n, code)) = args.close_after {
        realtime = realtime.close_after_events(n, code, "closed by the simulator");
    }
    if let Some(d) = args.expire_after {
        realtime = realtime.session_expires_after(d);
    }
    let mut chat = ChatSimulatorOptions::default();
    chat.api_key.clone_from(&key);
    if let Some(r) = args.chat_reply.as_ref().or(args.realtime.reply.as_ref()) {
        chat = chat.reply_text(r);
    }
    if let Some(d) = args.chunk_delay {
        chat = chat.chunk_delay(d);
    }
    let at = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let port = args.port.unwrap_or(0);
    let realtime = RealtimeSimulator::start_on(at(port), realtime)
        .await
        .map_err(|e| Failure::io(format!("the Realtime simulator: {e}")))?;
    let chat_port = if port == 0 { 0 } else { port + 1 };
    let chat = ChatSimulator::start_on(at(chat_port), chat)
        .await
        .map_err(|e| Failure::io(format!("the chat simulator: {e}")))?;
    let key_line = key.as_deref().unwrap_or("(any)");
    out(format!(
        "realtime: {}\nchat: {}\nkey: {key_line}\n",
        realtime.base_url(),
        chat.url()
    ));
    note!("the simulators are running; Ctrl-C stops them");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::io(format!("waiting for Ctrl-C: {e}")))?;
    drop((realtime, chat));
    note!("stopped");
    Ok(Ended::Interrupted)
}
