//! A Chat Completion streamed to the terminal token by token (`chat::stream`,
//! `Chunk::text()`), then why it ended and the usage it reports.
//!
//! Uses the live API when `OPENAI_API_KEY` is set, otherwise the offline Chat Completions
//! simulator (`mock::ChatSimulator`), which streams a canned answer a word at a time.
//!
//! Run: `cargo run --example chat_stream -- ["question"] [--model NAME]`
//! (default model `gpt-4o-mini`)

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use vivavoce::Error;
use vivavoce::chat::{ChatEvent, ChatOptions, message, stream};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

const USAGE: &str = "chat_stream [\"question\"] [--model NAME]";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse(&["model"]) {
        Ok(args) => args,
        Err(e) => return common::usage_error(&e, USAGE),
    };
    let question = match args.positional() {
        [] => "In two sentences: why is the sky blue?".to_owned(),
        [q] => q.clone(),
        _ => return common::usage_error("put the question in quotes", USAGE),
    };
    let model = args.get("model").unwrap_or("gpt-4o-mini").to_owned();
    common::exit(run(&model, &question).await)
}

async fn run(model: &str, question: &str) -> Result<(), Error> {
    let messages = vec![
        message::system("You answer briefly."),
        message::user(question),
    ];
    let mut options = ChatOptions::new(model, messages).include_usage(true);
    // Kept alive until the answer is in.
    let _simulator = if std::env::var_os("OPENAI_API_KEY").is_some() {
        println!("OPENAI_API_KEY is set: using the OpenAI Chat Completions API");
        None
    } else {
        let sim = ChatSimulator::start(
            ChatSimulatorOptions::default()
                .reply_text(
                    "Sunlight is scattered by the air's molecules, and blue light, with its \
                     short waves, is scattered far more than red. So blue reaches our eyes \
                     from every part of the sky.",
                )
                .chunk_delay(Duration::from_millis(30)),
        )
        .await?;
        println!(
            "OPENAI_API_KEY is not set: using the offline simulator at {}",
            sim.url()
        );
        options = options.url(sim.url()).api_key("sk-simulator");
        Some(sim)
    };
    println!("you: {question}");
    print!("{model}: ");
    let mut events = stream(options)?;
    while let Some(event) = events.next().await {
        match event {
            ChatEvent::Chunk(chunk) => {
                print!("{}", chunk.text().unwrap_or_default());
                std::io::stdout().flush().ok();
            }
            ChatEvent::Complete(done) => {
                println!();
                match &done.result.usage {
                    Some(u) => println!(
                        "[{:?}: {} prompt + {} completion = {} tokens]",
                        done.reason, u.prompt_tokens, u.completion_tokens, u.total_tokens
                    ),
                    None => println!("[{:?}: no usage reported]", done.reason),
                }
            }
            ChatEvent::Error(e) => {
                println!();
                return Err(e.error);
            }
            // Future event kinds: nothing to print.
            _ => {}
        }
    }
    Ok(())
}
