//! The `vivavoce` command: talk to the Realtime API hands-free or push-to-talk, stream a
//! chat completion, list audio devices, run the offline simulators, and validate events.
//!
//! ```text
//! vivavoce talk      [--tools FILE.json] [--record DIR] [--input F.wav] [--output F.wav] [--seconds N]
//! vivavoce ptt       [--toggle] [--press-for 1.5s] [--input F.wav] [--output F.wav] [--seconds N]
//! vivavoce chat      [--model M] [--system TEXT] PROMPT…
//! vivavoce devices
//! vivavoce simulate  [--port N] [--reply TEXT] [--pace fast] [--call NAME=ARGS]…
//! vivavoce validate  FILE.jsonl [--server]
//! ```
//!
//! `talk`, `ptt` and `chat` use the live API when `OPENAI_API_KEY` is set and the built-in
//! simulator otherwise; either way they say which on one line (on standard error).
//! `vivavoce help COMMAND` (or `--help`) tells each command's flags.
//!
//! # Exit status
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | a failure: the API refused or lost the session, a server error ended it, `validate` found invalid events |
//! | 2 | a usage or I/O error: bad arguments, a file that cannot be read or written, a bad tools file, no audio device |
//! | 130 | interrupted by Ctrl-C (after a clean shutdown: devices released, the session closed) |
//!
//! # Record format (`talk --record DIR`)
//!
//! - `DIR/events.jsonl`: every event of the session, both ways, one JSON object a line:
//!   `{"ms":1234,"direction":"out","event":{…}}`. `direction` is `out` for a client event
//!   sent, `in` for a server event received; `ms` counts from the start of the session;
//!   `event` is the event exactly as sent or received. `vivavoce validate` reads it,
//!   checking each event against the client or server schema its direction names.
//! - `DIR/mic.wav`: what the microphone sent (the `input_audio_buffer.append` audio),
//!   24 kHz mono 16-bit.
//! - `DIR/speaker.wav`: what the speaker played, as the echo canceller got it (24 kHz
//!   mono 16-bit), while the microphone ran.

mod arg_values;
mod chat;
mod devices;
mod exit;
mod keys;
mod media;
mod ptt;
mod record;
mod session;
mod simulate;
mod status;
mod talk;
mod term;
mod tools;
mod transcript;
mod validate;
mod voice;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use exit::Failure;

const EXIT_CODES: &str = "Exit status: 0 done; 1 a failure (the API refused or lost the \
session, a server error, invalid events); 2 a usage or I/O error (bad arguments, a file \
that cannot be read or written, no audio device); 130 interrupted by Ctrl-C.";

/// Realtime voice sessions with OpenAI's Realtime API, from the command line.
///
/// talk, ptt and chat use the live API when OPENAI_API_KEY is set and the built-in
/// offline simulator otherwise, and say which on one line.
#[derive(Debug, Parser)]
#[command(name = "vivavoce", version, after_long_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Talk(talk::TalkArgs),
    Ptt(ptt::PttArgs),
    Chat(chat::ChatArgs),
    Devices(devices::DevicesArgs),
    Simulate(simulate::SimulateArgs),
    Validate(validate::ValidateArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to standard output with status 0; usage errors to
            // standard error with status 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Talk(args) => block_on(talk::run(args)),
        Command::Ptt(args) => block_on(ptt::run(args)),
        Command::Chat(args) => block_on(chat::run(args)),
        Command::Simulate(args) => block_on(simulate::run(args)),
        Command::Devices(args) => devices::run(&args),
        Command::Validate(args) => validate::run(&args),
    };
    term::finish();
    exit::report(result)
}

/// Runs a command on a multi-threaded runtime (audio and the connection get their own
/// threads; the runtime's are for the session's tasks).
fn block_on(command: impl Future<Output = exit::Outcome>) -> exit::Outcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(command)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
