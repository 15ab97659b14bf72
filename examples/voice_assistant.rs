//! A hands-free voice assistant with a tool: the microphone goes to the session through
//! echo cancellation (so the assistant does not hear itself on the speakers), the reply
//! plays, talking over it interrupts it, and the model can call `get_time`, answered here
//! through the conversation layer. Both sides' words print as they come (the user's from
//! the server's transcription of the audio).
//!
//! Uses the live API when `OPENAI_API_KEY` is set, otherwise the offline simulator, which
//! hears "What time is it?" in whatever you say, calls `get_time`, and reads its answer.
//!
//! Run: `cargo run --example voice_assistant -- [seconds] [--input FILE.wav] [--output FILE.wav]`
//!
//! - `seconds`: how long to listen (default 60; Ctrl-C ends it sooner).
//! - `--input FILE.wav` (or `VIVAVOCE_INPUT`): the file is the microphone, played in real
//!   time; the program ends once it has been heard and answered. End the file with a
//!   second of silence so the server hears the turn end.
//! - `--output FILE.wav` (or `VIVAVOCE_OUTPUT`): the reply goes to a WAV file instead of
//!   the speakers. With both, no sound device is needed.

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use vivavoce::Error;
use vivavoce::audio::{CaptureOptions, capture_audio};
use vivavoce::mock::SimulatorOptions;
use vivavoce::realtime::conversation::{
    Conversation, ConversationEvent, ConversationOptions, Function, TextDelta,
};
use vivavoce::realtime::events::Role;
use vivavoce::realtime::{ServerEvent, Session, connect};

const USAGE: &str = "voice_assistant [seconds] [--input FILE.wav] [--output FILE.wav]";

/// With a file for input: how long the session must stay quiet, once the file has
/// ended and no response runs, before the program ends.
const QUIET: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse(&["input", "output"]) {
        Ok(args) => args,
        Err(e) => return common::usage_error(&e, USAGE),
    };
    let seconds = match args.positional() {
        [] => 60,
        [s] => match s.parse::<u64>() {
            Ok(n) => n,
            Err(_) => return common::usage_error(&format!("`{s}` is not seconds"), USAGE),
        },
        _ => return common::usage_error("one positional argument at most", USAGE),
    };
    common::exit(run(&args, Duration::from_secs(seconds)).await)
}

/// The tool: the time now, in UTC (no time zone database needed).
fn get_time() -> Function {
    Function::new(
        "get_time",
        "The current time (UTC). Call it when the user asks what time it is.",
        json!({"type": "object", "properties": {}, "additionalProperties": false}),
        |_args| async move {
            let secs = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_secs();
            let (h, m) = (secs / 3600 % 24, secs / 60 % 60);
            Ok(json!({"utc": format!("{h:02}:{m:02}")}))
        },
    )
}

async fn run(args: &common::Args, listen: Duration) -> Result<(), Error> {
    let offline = SimulatorOptions::default()
        .input_transcript("What time is it?")
        .function_call("get_time", "{}");
    let (_simulator, options) = common::realtime(offline).await?;
    let (tx, rx) = connect(options).await?;
    let playback = common::playback(&tx, args.output()).await?;
    // Audio goes to the output; every other event comes back through `events`.
    let events = playback.attach(rx);
    let session = Session::default()
        .instructions("You are a friendly voice assistant. Answer briefly.")
        .input_transcription("gpt-4o-transcribe");
    let options = ConversationOptions::default()
        .session(session)
        .function(get_time())
        // What was heard: turn latency to the first sample heard, and transcripts cut
        // where a barge-in cut the audio.
        .played(playback.positions());
    // The session update (tools, transcription) goes out before the microphone starts.
    let mut conversation = Conversation::start(tx.clone(), events, options).await?;
    let (source, input_file) = args.input();
    // What the speakers play is the echo canceller's far end.
    let mic = CaptureOptions::default()
        .source(source)
        .reference(playback.echo_reference());
    let capture = capture_audio(tx.clone(), mic).await?;
    println!(
        "listening on {} ({} Hz), playing on {} — speak; Ctrl-C to quit",
        capture.input().name,
        capture.input().sample_rate,
        playback.output().name
    );

    let mut transcript = Transcript::default();
    let deadline = tokio::time::sleep(listen);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_event = Instant::now();
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            // A file for a microphone: done once it has ended and been answered.
            _ = tick.tick(), if input_file.is_some() => {
                if capture.is_ended() && !conversation.response_active() && last_event.elapsed() > QUIET {
                    break;
                }
            }
            event = conversation.recv() => {
                let Some(event) = event else { break };
                last_event = Instant::now();
                match event {
                    ConversationEvent::Text(t) => transcript.text(&t),
                    ConversationEvent::ItemDone { item_id } => transcript.item_done(&item_id),
                    ConversationEvent::ToolCall(call) => transcript.line(&format!(
                        "[{}({}) -> {}]", call.name, call.arguments, call.output
                    )),
                    ConversationEvent::Truncated(cut) => transcript.line(&format!(
                        "[interrupted: heard up to {} ms]", cut.audio_end_ms
                    )),
                    ConversationEvent::Turn(turn) => {
                        if let Some(wait) = turn.wait {
                            transcript.line(&format!("[answered {} ms after you stopped]", wait.as_millis()));
                        }
                    }
                    ConversationEvent::Server(ServerEvent::InputAudioBufferSpeechStarted(_)) => {
                        transcript.line("[you are speaking]");
                    }
                    ConversationEvent::Server(ServerEvent::ErrorEvent(e)) => {
                        transcript.line(&format!("[server error: {}]", e.error.message));
                    }
                    ConversationEvent::Server(ServerEvent::Disconnected(d)) => return Err(d.error),
                    _ => {}
                }
            }
        }
    }
    transcript.end();
    capture.stop().await?;
    if let Err(e) = playback.drain().await {
        eprintln!("playback did not finish: {e}");
    }
    let m = capture.metrics();
    println!(
        "sent {:.1} s of audio in {} appends; echo canceller {} at {:?} per 10 ms; {} tokens",
        m.sent.as_secs_f64(),
        m.appends,
        capture.processor(),
        m.processing_mean,
        conversation.usage().total_tokens
    );
    playback.stop().await;
    tx.close().await
}

/// Prints both sides' words as they come, one line per item: `you: …`, `assistant: …`.
#[derive(Default)]
struct Transcript {
    /// The item whose line is open.
    item: Option<String>,
}

impl Transcript {
    fn text(&mut self, t: &TextDelta) {
        if self.item.as_deref() != Some(t.item_id.as_str()) {
            self.end();
            let who = if t.role == Role::User {
                "you"
            } else {
                "assistant"
            };
            print!("{who}: ");
            self.item = Some(t.item_id.clone());
        }
        print!("{}", t.delta);
        std::io::stdout().flush().ok();
    }

    fn item_done(&mut self, item_id: &str) {
        if self.item.as_deref() == Some(item_id) {
            self.end();
        }
    }

    /// Ends the open line, if any.
    fn end(&mut self) {
        if self.item.take().is_some() {
            println!();
        }
    }

    /// A line of its own.
    fn line(&mut self, line: &str) {
        self.end();
        println!("{line}");
    }
}
