//! One spoken exchange: send a line of text, play the assistant's voice on the default
//! output device while its transcript prints. Uses the live API when `OPENAI_API_KEY` is
//! set, otherwise the built-in offline simulator. Without a sound device the audio goes
//! to `quickstart.wav` instead.
//!
//! Run: `cargo run --example quickstart -- "What is the capital of France?"`

use std::io::Write;

use vivavoce::Error;
use vivavoce::audio::{OutputTarget, Playback, PlaybackOptions};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{ConnectOptions, EventReceiver, EventSender, Item, ServerEvent, connect};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello.".to_owned());

    // Keep the simulator alive for the whole session.
    let (_simulator, options) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (None, ConnectOptions::default())
    } else {
        let sim = RealtimeSimulator::start(SimulatorOptions::default()).await?;
        println!(
            "OPENAI_API_KEY is not set: using the offline simulator at {}",
            sim.base_url()
        );
        let options = sim.connect_options();
        (Some(sim), options)
    };

    let (tx, rx) = connect(options).await?;
    // Open the speakers first: without a sound device, fall back to a file.
    let playback = match Playback::open(PlaybackOptions::new(tx.clone())).await {
        Ok(playback) => playback,
        Err(Error::NoAudioDevice { .. }) => {
            println!("no sound device here: the reply goes to quickstart.wav");
            let target = OutputTarget::wav("quickstart.wav");
            Playback::open(PlaybackOptions::new(tx.clone()).target(target)).await?
        }
        Err(e) => return Err(e),
    };
    // Audio goes to the output; every other event comes back here.
    let events = playback.attach(rx);
    println!("playing on {}", playback.output().name);
    converse(&prompt, tx, events, playback).await
}

async fn converse(
    prompt: &str,
    tx: EventSender,
    mut events: EventReceiver,
    playback: Playback,
) -> Result<(), Error> {
    tx.send(ConversationItemCreate::new(Item::user_text(prompt)))
        .await?;
    tx.send(ResponseCreate::default()).await?;
    println!("you: {prompt}");
    print!("assistant: ");
    while let Some(event) = events.recv().await {
        match event {
            ServerEvent::ResponseOutputAudioTranscriptDelta(t) => print!("{}", t.delta),
            ServerEvent::ResponseOutputTextDelta(t) => print!("{}", t.delta),
            ServerEvent::ErrorEvent(e) => eprintln!("\nserver error: {}", e.error.message),
            ServerEvent::Disconnected(d) => return Err(d.error),
            ServerEvent::ResponseDone(done) => {
                playback.drain().await?; // wait until the reply has been heard
                let tokens = done.response.usage.as_ref().map_or(0, |u| u.total_tokens);
                let m = playback.metrics();
                println!(
                    "\n[{:.1} s of audio played on {}, {} underruns, {tokens} tokens]",
                    m.played.as_secs_f64(),
                    playback.output().name,
                    m.underruns
                );
                break;
            }
            _ => {}
        }
        std::io::stdout().flush().ok();
    }
    playback.stop().await;
    tx.close().await
}
