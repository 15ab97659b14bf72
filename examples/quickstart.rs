//! One spoken exchange: send a line of text, stream back the assistant's audio and
//! transcript. Uses the live API when `OPENAI_API_KEY` is set, otherwise the built-in
//! offline simulator.
//!
//! Run: `cargo run --example quickstart -- "What is the capital of France?"`

use std::io::Write;

use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{
    ConnectOptions, ConversationItemCreate, Item, ResponseCreate, ServerEvent, connect,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), vivavoce::Error> {
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

    let (tx, mut rx) = connect(options).await?;
    tx.send(ConversationItemCreate::new(Item::user_text(&prompt)))
        .await?;
    tx.send(ResponseCreate::default()).await?;
    println!("you: {prompt}");
    print!("assistant: ");
    let mut samples = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            ServerEvent::ResponseOutputAudioDelta(delta) => delta.pcm16_into(&mut samples)?,
            ServerEvent::ResponseOutputAudioTranscriptDelta(t) => print!("{}", t.delta),
            ServerEvent::ResponseOutputTextDelta(t) => print!("{}", t.delta),
            ServerEvent::ErrorEvent(e) => eprintln!("\nserver error: {}", e.error.message),
            ServerEvent::Disconnected(d) => return Err(d.error),
            ServerEvent::ResponseDone(done) => {
                let tokens = done.response.usage.as_ref().map_or(0, |u| u.total_tokens);
                println!(
                    "\n[{:.1} s of 24 kHz audio received, {tokens} tokens]",
                    samples.len() as f64 / 24_000.0
                );
                break;
            }
            _ => {}
        }
        std::io::stdout().flush().ok();
    }
    tx.close().await
}
