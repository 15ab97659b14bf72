//! The voice assistant in one step: your microphone goes to the session through echo
//! cancellation, the server's VAD hears your turn, the reply plays on your speakers,
//! and both sides' words print as they come, with how long you waited.
//!
//! It uses the live API when `OPENAI_API_KEY` is set, otherwise the built-in offline
//! simulator. It runs the whole loop on any machine: without a microphone a built-in
//! spoken line stands in for you (through the same capture path: resampling, echo
//! cancellation, VAD, append), and without speakers the reply goes to a WAV file whose
//! path it prints.
//!
//! Run: `cargo xtask run` (installs the ALSA headers first if they are missing), or
//! `cargo run --example quickstart -- [--seconds N]` (with a microphone, how long to
//! listen; default 30; Ctrl-C ends sooner).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vivavoce::Error;
use vivavoce::audio::{
    Capture, CaptureOptions, InputSource, OutputTarget, Playback, PlaybackOptions, capture_audio,
};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions, voice};
use vivavoce::realtime::conversation::{
    Conversation, ConversationEvent, ConversationOptions, TextSource,
};
use vivavoce::realtime::events::Role;
use vivavoce::realtime::{ConnectOptions, EventSender, ServerEvent, Session, connect};

/// What the built-in voice says when there is no microphone.
const UTTERANCE: &str = "Hello! What can you do for me?";
/// Where the reply goes when there are no speakers.
const REPLY_WAV: &str = "quickstart-reply.wav";

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    run().await
}

async fn run() -> Result<(), BoxError> {
    let seconds = seconds_arg().unwrap_or(30);
    let (_simulator, options) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        println!("using the OpenAI Realtime API (OPENAI_API_KEY is set)");
        (None, ConnectOptions::default())
    } else {
        let sim = SimulatorOptions::default().input_transcript(UTTERANCE);
        let sim = RealtimeSimulator::start(sim).await?;
        println!("OPENAI_API_KEY is not set: using the offline simulator");
        let options = sim.connect_options();
        (Some(sim), options)
    };
    let (tx, rx) = connect(options).await?;

    // The speakers first: without any, the reply goes to a file.
    let playback = match Playback::open(PlaybackOptions::new(tx.clone())).await {
        Ok(playback) => playback,
        Err(Error::NoAudioDevice { .. }) => {
            let to_file = OutputTarget::wav(REPLY_WAV);
            Playback::open(PlaybackOptions::new(tx.clone()).target(to_file)).await?
        }
        Err(e) => return Err(e.into()),
    };
    let events = playback.attach(rx);
    let session = Session::default()
        .instructions("You are a helpful voice assistant. Answer briefly.")
        .input_transcription("gpt-4o-transcribe");
    let options = ConversationOptions::default()
        .session(session)
        .played(playback.positions());
    let mut conversation = Conversation::start(tx.clone(), events, options).await?;

    // Then the microphone, with what the speakers play as the echo canceller's far end.
    let (capture, stand_in) = open_microphone(&tx, &playback).await?;
    println!(
        "listening on {}, playing on {}",
        capture.input().name,
        playback.output().name
    );
    if stand_in {
        println!("no microphone here: a built-in voice says \"{UTTERANCE}\" for you");
    } else {
        println!("speak; Ctrl-C to quit");
    }

    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    let mut speaker = None;
    loop {
        let event = tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            event = conversation.recv() => event,
        };
        let Some(event) = event else { break };
        match event {
            ConversationEvent::Text(t)
                if t.source != TextSource::Text || t.role == Role::Assistant =>
            {
                if speaker.as_ref() != Some(&t.role) {
                    let who = if t.role == Role::User {
                        "you"
                    } else {
                        "assistant"
                    };
                    print!("\n{who}: ");
                    speaker = Some(t.role.clone());
                }
                print!("{}", t.delta);
            }
            ConversationEvent::Truncated(cut) => {
                print!(
                    " [interrupted: you heard \"{}\"]",
                    cut.transcript.trim_end()
                );
            }
            ConversationEvent::Turn(turn) => {
                if let Some(wait) = turn.wait {
                    print!("\n[you waited {} ms for the reply]", wait.as_millis());
                }
                if stand_in {
                    playback.drain().await?; // heard to the end
                    break;
                }
            }
            ConversationEvent::Server(ServerEvent::ErrorEvent(e)) => {
                eprintln!("\nserver error: {}", e.error.message);
            }
            ConversationEvent::Server(ServerEvent::Disconnected(d)) if !d.will_reconnect => {
                return Err(d.error.into());
            }
            _ => {}
        }
        std::io::stdout().flush().ok();
    }
    println!();
    let _ = capture.stop().await;
    if stand_in {
        let _ = std::fs::remove_file(&capture.input().name);
    }
    playback.stop().await;
    let played = playback.metrics().played;
    if playback.output().name.ends_with(REPLY_WAV) {
        println!(
            "the reply ({:.1} s) is in {}",
            played.as_secs_f64(),
            absolute(Path::new(REPLY_WAV)).display()
        );
    }
    let usage = conversation.usage();
    println!(
        "{} response(s), {} tokens",
        usage.responses, usage.total_tokens
    );
    Ok(tx.close().await?)
}

/// The default microphone, or the built-in voice (`true`) when there is none.
async fn open_microphone(
    tx: &EventSender,
    playback: &Playback,
) -> Result<(Capture, bool), BoxError> {
    let mic = CaptureOptions::default().reference(playback.echo_reference());
    match capture_audio(tx.clone(), mic).await {
        Ok(capture) => Ok((capture, false)),
        Err(Error::NoAudioDevice { .. }) => {
            let path = stand_in_voice()?;
            let from_file = CaptureOptions::default().source(InputSource::Wav(path));
            Ok((capture_audio(tx.clone(), from_file).await?, true))
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the built-in voice saying [`UTTERANCE`], then a second of silence (the end of
/// the turn), as a WAV file.
fn stand_in_voice() -> Result<PathBuf, hound::Error> {
    let mut pcm = voice::synthesize(UTTERANCE);
    pcm.extend(std::iter::repeat_n(0i16, voice::RATE as usize * 3 / 2));
    let path = std::env::temp_dir().join(format!("vivavoce-utterance-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: voice::RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec)?;
    for s in pcm {
        w.write_sample(s)?;
    }
    w.finalize()?;
    Ok(path)
}

/// `--seconds N`, or exit 2 with the usage.
fn seconds_arg() -> Option<u64> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => None,
        [flag, n] if flag == "--seconds" => match n.parse() {
            Ok(n) => Some(n),
            Err(_) => usage(&format!("--seconds takes a whole number, not {n:?}")),
        },
        _ => usage(&format!("unexpected arguments {args:?}")),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: quickstart [--seconds N]   (default 30: how long to listen)"
    );
    std::process::exit(2)
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
}
