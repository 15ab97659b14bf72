//! Push-to-talk from the keyboard: turn detection is off, nothing of the microphone goes
//! out until you press, and the turn is sent (committed, answered) when you release.
//! Pressing while the assistant talks interrupts it. Lines on standard input drive it:
//!
//! - Enter: start talking; Enter again: send the turn;
//! - `c` + Enter: cancel the turn (the server drops what it got);
//! - `q` + Enter, or the end of the input: quit, once the last answer has played.
//!
//! A pipe works as well as a terminal, so a script can drive it. Uses the live API when
//! `OPENAI_API_KEY` is set, otherwise the offline simulator (which answers each turn with
//! a canned line and transcribes it as "Tell me something nice.").
//!
//! Run: `cargo run --example push_to_talk -- [--input FILE.wav] [--output FILE.wav]`
//!
//! - `--input FILE.wav` (or `VIVAVOCE_INPUT`): the file is the microphone, playing in
//!   real time from the start; only what plays while you hold the turn is sent.
//! - `--output FILE.wav` (or `VIVAVOCE_OUTPUT`): the answers go to a WAV file instead of
//!   the speakers.

mod common;

use std::io::Write;
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, BufReader};
use vivavoce::Error;
use vivavoce::audio::{CaptureOptions, PushToTalk, capture_audio};
use vivavoce::mock::SimulatorOptions;
use vivavoce::realtime::events::SessionUpdate;
use vivavoce::realtime::{ServerEvent, Session, connect};

const USAGE: &str = "push_to_talk [--input FILE.wav] [--output FILE.wav]";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse(&["input", "output"]) {
        Ok(args) if args.positional().is_empty() => args,
        Ok(_) => return common::usage_error("no positional arguments", USAGE),
        Err(e) => return common::usage_error(&e, USAGE),
    };
    common::exit(run(&args).await)
}

async fn run(args: &common::Args) -> Result<(), Error> {
    let offline = SimulatorOptions::default().input_transcript("Tell me something nice.");
    let (_simulator, options) = common::realtime(offline).await?;
    let (tx, rx) = connect(options).await?;
    let playback = common::playback(&tx, args.output()).await?;
    let mut events = playback.attach(rx);
    // No turn detection: the turns are yours. Transcribed, so you see what was heard.
    let session = Session::default()
        .push_to_talk()
        .input_transcription("gpt-4o-transcribe");
    tx.send(SessionUpdate::new(session)).await?;
    let (source, _) = args.input();
    let mic = CaptureOptions::default()
        .source(source)
        .reference(playback.echo_reference())
        .start_paused(true);
    let ptt = PushToTalk::new(capture_audio(tx.clone(), mic).await?, tx.clone());
    println!(
        "microphone {}, playing on {}",
        ptt.capture().input().name,
        playback.output().name
    );
    println!("Enter to talk, Enter again to send, c + Enter to cancel, q + Enter to quit");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut talking = false;
    let mut answering = false;
    let mut quitting = false;
    let mut speaking = false; // an assistant line is open
    // Until told to quit, and then until the answer on its way is in.
    while !quitting || answering {
        tokio::select! {
            // Cancel-safe: a line is never half read.
            line = lines.next_line(), if !quitting => {
                let line = line.ok().flatten();
                match line.as_deref().map(str::trim) {
                    Some("") if !talking => {
                        if ptt.capture().is_ended() {
                            println!("[the microphone has ended]");
                            quitting = true;
                            continue;
                        }
                        // Talking over the answer stops it where you stopped hearing it.
                        match playback.interrupt(&tx).await {
                            Ok(Some(cut)) => {
                                println!("\n[interrupted after {} ms]", cut.played.as_millis());
                                speaking = false;
                            }
                            Ok(None) => {}
                            Err(e) => println!("[could not interrupt: {e}]"),
                        }
                        ptt.press();
                        talking = true;
                        println!("[talking… Enter to send, c + Enter to cancel]");
                    }
                    Some("") => {
                        talking = false;
                        match ptt.release().await {
                            Ok(()) => {
                                answering = true;
                                println!("[sent]");
                            }
                            Err(e) => println!("[not sent: {e}]"),
                        }
                    }
                    Some("c") if talking => {
                        talking = false;
                        match ptt.cancel().await {
                            Ok(()) => println!("[cancelled]"),
                            Err(e) => println!("[could not cancel: {e}]"),
                        }
                    }
                    Some("c") => println!("[nothing to cancel]"),
                    Some("q") | None => {
                        if talking {
                            ptt.cancel().await.ok();
                            println!("[cancelled]");
                        }
                        quitting = true;
                    }
                    Some(other) => println!("[`{other}`? Enter to talk, c to cancel, q to quit]"),
                }
            }
            event = events.recv() => match event {
                Some(ServerEvent::InputAudioTranscriptionCompleted(t)) => {
                    println!("you: {}", t.transcript.trim());
                }
                Some(ServerEvent::InputAudioBufferCleared(_)) => println!("[the server dropped the turn]"),
                Some(ServerEvent::ResponseOutputAudioTranscriptDelta(t)) => {
                    if !speaking {
                        print!("assistant: ");
                        speaking = true;
                    }
                    print!("{}", t.delta);
                    std::io::stdout().flush().ok();
                }
                Some(ServerEvent::ResponseDone(_)) => {
                    if speaking {
                        println!();
                        speaking = false;
                    }
                    answering = false;
                }
                Some(ServerEvent::ErrorEvent(e)) => println!("[server error: {}]", e.error.message),
                Some(ServerEvent::Disconnected(d)) => return Err(d.error),
                None => break,
                _ => {}
            },
        }
    }
    // The last answer heard to the end (or written to the file to the end).
    if let Err(e) = playback.drain().await {
        eprintln!("playback did not finish: {e}");
    }
    ptt.capture().stop().await.ok();
    playback.stop().await;
    tx.close().await
}
