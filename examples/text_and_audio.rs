//! One response, read and heard together: its words print as they arrive (the audio
//! transcript's deltas, or text deltas in a text-only session) while its audio plays,
//! and the program waits until the last sample has been heard (`playback.drain()`).
//! At the end it says when the words were complete and how much audio had been heard
//! by then: the live API sends faster than real time, so its words run ahead of the
//! voice; the simulator sends them with the audio, at the pace of speech.
//!
//! Uses the live API when `OPENAI_API_KEY` is set, otherwise the offline simulator
//! (which streams its speech at real-time pace, as the API does).
//!
//! Run: `cargo run --example text_and_audio -- ["question"] [--output FILE.wav]
//! [--transport webrtc]`
//!
//! - `question`: what to ask (default: something about the sea).
//! - `--transport webrtc`: the same session over a WebRTC call (`realtime::webrtc`)
//!   instead of the WebSocket; the one line that differs is the `connect`.
//! - `--output FILE.wav` (or `VIVAVOCE_OUTPUT`): the audio goes to a WAV file instead of
//!   the speakers, for machines without a sound device.

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vivavoce::Error;
use vivavoce::mock::SimulatorOptions;
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::webrtc::{self, CallOptions};
use vivavoce::realtime::{Item, ServerEvent, Session, connect};

const USAGE: &str =
    "text_and_audio [\"question\"] [--output FILE.wav] [--transport websocket|webrtc]";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse(&["output", "transport"]) {
        Ok(args) => args,
        Err(e) => return common::usage_error(&e, USAGE),
    };
    let question = match args.positional() {
        [] => "Tell me one thing about the sea, in two sentences.".to_owned(),
        [q] => q.clone(),
        _ => return common::usage_error("put the question in quotes", USAGE),
    };
    common::exit(run(&args, &question).await)
}

async fn run(args: &common::Args, question: &str) -> Result<(), Error> {
    let offline = SimulatorOptions::default().reply_text(
        "The sea covers about seventy per cent of the Earth. \
         It holds most of the planet's water and most of its life.",
    );
    let (simulator, options) = common::realtime(offline).await?;
    let (tx, rx, _call) = match args.get("transport").unwrap_or("websocket") {
        "websocket" => {
            let (tx, rx) = connect(options).await?;
            (tx, rx, None)
        }
        "webrtc" => {
            let options = match &simulator {
                Some(sim) => sim.call_options(),
                None => CallOptions::default().session(Session::default().model("gpt-realtime")),
            };
            let (tx, rx, call) = webrtc::connect(options).await?;
            println!("call {}", call.id());
            (tx, rx, Some(call))
        }
        other => {
            return Err(Error::InvalidOption {
                option: "--transport",
                message: format!("`{other}`: use websocket or webrtc"),
            });
        }
    };
    let playback = common::playback(&tx, args.output()).await?;
    // The audio deltas go to the output as they come; everything else comes back here.
    let mut events = playback.attach(rx);
    println!("playing on {}", playback.output().name);
    tx.send(ConversationItemCreate::new(Item::user_text(question)))
        .await?;
    tx.send(ResponseCreate::default()).await?;
    println!("you: {question}");
    print!("assistant: ");
    std::io::stdout().flush().ok();

    let asked = Instant::now();
    // When the words were complete, and how much had been heard by then.
    let mut words_done: Option<(Duration, Duration)> = None;
    while let Some(event) = events.recv().await {
        match event {
            ServerEvent::ResponseOutputAudioTranscriptDelta(t) => print!("{}", t.delta),
            ServerEvent::ResponseOutputTextDelta(t) => print!("{}", t.delta),
            ServerEvent::ResponseOutputAudioTranscriptDone(_)
            | ServerEvent::ResponseOutputTextDone(_) => {
                words_done.get_or_insert((asked.elapsed(), playback.metrics().played));
            }
            ServerEvent::ErrorEvent(e) => eprintln!("\nserver error: {}", e.error.message),
            ServerEvent::Disconnected(d) => return Err(d.error),
            ServerEvent::ResponseDone(_) => break,
            _ => {}
        }
        std::io::stdout().flush().ok();
    }
    println!();
    let played_before = playback.metrics().played;
    // Until the last sample has been heard (over WebRTC, also until the server says its
    // playout stopped: the audio keeps coming on the track after response.done).
    playback.drain().await?;
    let heard = playback.metrics().played.saturating_sub(played_before);
    let total = asked.elapsed();
    if let Some((at, played)) = words_done {
        println!(
            "[words complete after {:.1} s, with {:.1} s of audio heard]",
            at.as_secs_f64(),
            played.as_secs_f64()
        );
    }
    println!(
        "[audio heard to the end after {:.1} s: {:.1} s more after the response ended; {} underruns]",
        total.as_secs_f64(),
        heard.as_secs_f64(),
        playback.metrics().underruns
    );
    playback.stop().await;
    tx.close().await
}
