//! What the examples share: reading their few arguments, choosing the live API or the
//! offline simulator (and saying which on one line), and opening the audio ends, a
//! device or a WAV file.
// Each example uses only part of this.
#![allow(dead_code)]

use std::path::PathBuf;

use vivavoce::Error;
use vivavoce::audio::{InputSource, OutputTarget, Playback, PlaybackOptions};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{ConnectOptions, EventSender};

/// The command line: `--name value` options (the ones an example declares) and
/// positional arguments.
#[derive(Debug, Default)]
pub struct Args {
    options: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    /// Reads the command line, taking the `--NAME VALUE` (or `--NAME=VALUE`) options in
    /// `known`; anything else that starts with `--` is an error naming it.
    pub fn parse(known: &[&str]) -> Result<Args, String> {
        Self::from(std::env::args().skip(1), known)
    }

    fn from(args: impl Iterator<Item = String>, known: &[&str]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                out.positional.push(arg);
                continue;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?;
                    (flag.to_owned(), value)
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}"));
            }
            out.options.push((name, value));
        }
        Ok(out)
    }

    /// The last value given for `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `--name`, or else the environment variable `env`.
    pub fn get_or_env(&self, name: &str, env: &str) -> Option<String> {
        self.get(name)
            .map(str::to_owned)
            .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
    }

    /// `--name` as a number, `default` when absent.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} wants a number, not `{v}`")),
        }
    }

    /// The positional arguments.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// `--input FILE.wav` (or `VIVAVOCE_INPUT`): the microphone, or that file played in
    /// real time as a microphone would deliver it.
    pub fn input(&self) -> (InputSource, Option<PathBuf>) {
        match self.get_or_env("input", "VIVAVOCE_INPUT") {
            Some(path) => (InputSource::Wav(path.clone().into()), Some(path.into())),
            None => (InputSource::Default, None),
        }
    }

    /// `--output FILE.wav` (or `VIVAVOCE_OUTPUT`): the speakers, or that file written at
    /// the pace of a device.
    pub fn output(&self) -> OutputTarget {
        match self.get_or_env("output", "VIVAVOCE_OUTPUT") {
            Some(path) => OutputTarget::wav(path),
            None => OutputTarget::Default,
        }
    }
}

/// The live Realtime API when `OPENAI_API_KEY` is set, else a simulator started with
/// `offline`; says which on one line. Keep the simulator alive for the session.
pub async fn realtime(
    offline: SimulatorOptions,
) -> Result<(Option<RealtimeSimulator>, ConnectOptions), Error> {
    if std::env::var_os("OPENAI_API_KEY").is_some() {
        println!("OPENAI_API_KEY is set: using the OpenAI Realtime API");
        return Ok((None, ConnectOptions::default()));
    }
    let sim = RealtimeSimulator::start(offline).await?;
    println!(
        "OPENAI_API_KEY is not set: using the offline simulator at {}",
        sim.base_url()
    );
    let options = sim.connect_options();
    Ok((Some(sim), options))
}

/// Opens playback on `target`. Without a sound device the error says to use
/// `--output FILE.wav`.
pub async fn playback(tx: &EventSender, target: OutputTarget) -> Result<Playback, Error> {
    match Playback::open(PlaybackOptions::new(tx.clone()).target(target)).await {
        Err(e @ Error::NoAudioDevice { .. }) => {
            eprintln!("no sound device here: pass --output FILE.wav (and --input FILE.wav)");
            Err(e)
        }
        other => other,
    }
}

/// Prints `error: …` and the usage, and makes the exit code 2 (bad arguments).
pub fn usage_error(message: &str, usage: &str) -> std::process::ExitCode {
    eprintln!("error: {message}\nusage: {usage}");
    std::process::ExitCode::from(2)
}

/// The exit code for how `run` ended: 0, or 1 after printing the error.
pub fn exit(result: Result<(), Error>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
