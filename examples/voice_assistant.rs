//! A hands-free voice assistant: the microphone goes to the session through echo
//! cancellation (so the assistant does not hear itself on the speakers), the reply plays,
//! and talking over it interrupts it. Uses the live API when `OPENAI_API_KEY` is set,
//! otherwise the offline simulator (which answers whatever it hears with a canned line).
//!
//! Run: `cargo run --example voice_assistant -- [seconds]` (default 60)

use std::time::Duration;

use vivavoce::audio::{CaptureOptions, PlaybackOptions, capture_audio, stream};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{ConnectOptions, ServerEvent, connect};

#[tokio::main]
async fn main() -> Result<(), vivavoce::Error> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let (_simulator, options) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (None, ConnectOptions::default())
    } else {
        let sim = RealtimeSimulator::start(SimulatorOptions::default()).await?;
        println!("OPENAI_API_KEY is not set: using the offline simulator");
        let options = sim.connect_options();
        (Some(sim), options)
    };
    let (tx, rx) = connect(options).await?;
    // Server VAD is the default: it hears the turns; barge-in is on by default.
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone())).await?;
    // What the speakers play is the echo canceller's far end.
    let mic = CaptureOptions::default().reference(playback.echo_reference());
    let capture = capture_audio(tx.clone(), mic).await?;
    println!(
        "listening on {} ({} Hz), playing on {} — speak; Ctrl-C to quit",
        capture.input().name,
        capture.input().sample_rate,
        playback.output().name
    );
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                Some(ServerEvent::InputAudioBufferSpeechStarted(_)) => println!("[you are speaking]"),
                Some(ServerEvent::ResponseOutputAudioTranscriptDone(t)) => println!("assistant: {}", t.transcript),
                Some(ServerEvent::ConversationItemTruncated(t)) => println!("[interrupted at {} ms]", t.audio_end_ms),
                Some(ServerEvent::ErrorEvent(e)) => eprintln!("server error: {}", e.error.message),
                Some(ServerEvent::Disconnected(d)) => return Err(d.error),
                None => break,
                _ => {}
            },
        }
    }
    capture.stop().await?;
    let m = capture.metrics();
    println!(
        "sent {:.1} s of audio in {} appends; echo canceller {} at {:?} per 10 ms",
        m.sent.as_secs_f64(),
        m.appends,
        capture.processor(),
        m.processing_mean
    );
    playback.stop().await;
    tx.close().await
}
