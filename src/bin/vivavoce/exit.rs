//! How a command ends: its exit status, and the one message that says why.

use std::fmt::Display;
use std::process::ExitCode;

/// What a command returns.
pub type Outcome = Result<Ended, Failure>;

/// A command that ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It finished (status 0).
    Done,
    /// Ctrl-C stopped it, after a clean shutdown (status 130).
    Interrupted,
}

/// A command that failed: its status and what to print.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    /// Printed as `vivavoce: MESSAGE` on standard error; empty when the command already
    /// said what was wrong.
    message: String,
}

impl Failure {
    /// Status 1: the API refused or lost the session, a server error, invalid events.
    pub fn failed(message: impl Display) -> Self {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }

    /// Status 2: bad arguments.
    pub fn usage(message: impl Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    /// Status 2: a file or device that cannot be used.
    pub fn io(message: impl Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    /// A status whose reason the command has printed itself.
    pub fn quiet(code: u8) -> Self {
        Failure {
            code,
            message: String::new(),
        }
    }

    /// A library error while doing `what`: status 2 for options, files and devices, 1 for
    /// the API and the connection.
    pub fn from_error(what: &str, e: &vivavoce::Error) -> Self {
        use vivavoce::Error as E;
        let message = format!("{what}: {e}");
        match e {
            E::NoAudioDevice { .. } => Failure::io(format!(
                "{message} (without a sound device, use --input FILE.wav and --output FILE.wav)"
            )),
            E::InvalidOption { .. }
            | E::Wav { .. }
            | E::AudioDevice { .. }
            | E::MissingApiKey
            | E::MissingProviderKey { .. }
            | E::UnknownConfig { .. }
            | E::NoRuntime { .. }
            | E::InvalidSchema { .. } => Failure::io(message),
            _ => Failure::failed(message),
        }
    }
}

/// A closure for `map_err` that wraps a library error with what was being done.
pub fn context(what: &str) -> impl FnOnce(vivavoce::Error) -> Failure + '_ {
    move |e| Failure::from_error(what, &e)
}

/// Prints the reason, if any, and turns the outcome into the exit status.
pub fn report(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => ExitCode::from(130),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("vivavoce: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
