//! `vivavoce chat`: one Chat Completion, streamed to the terminal as it is written.

use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use vivavoce::chat::{ChatEvent, ChatOptions, CompleteReason, stream};

use crate::exit::{Ended, Failure, Outcome, context};
use crate::session::chat_target;
use crate::term::{note, out};

/// Stream a Chat Completion token by token, with the usage at the end.
///
/// The answer goes to standard output as it arrives; the usage (and the line saying
/// whether the live API or the built-in simulator answers) to standard error.
#[derive(Debug, Args)]
#[command(after_long_help = crate::EXIT_CODES)]
pub struct ChatArgs {
    /// What to ask (several words are joined with spaces).
    #[arg(required = true, value_name = "PROMPT")]
    prompt: Vec<String>,
    /// The model.
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    /// A system message before the prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// What the built-in simulator answers (offline only).
    #[arg(
        long,
        value_name = "TEXT",
        help_heading = crate::session::OFFLINE
    )]
    reply: Option<String>,
}

pub async fn run(args: ChatArgs) -> Outcome {
    let prompt = args.prompt.join(" ");
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let options = ChatOptions::new(&args.model, messages).include_usage(true);
    let (options, _simulator) = chat_target(options, args.reply.as_deref()).await?;
    let mut events = stream(options).map_err(context("starting the request"))?;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let event = tokio::select! {
            _ = &mut interrupt => {
                events.stop();
                out("\n");
                return Ok(Ended::Interrupted);
            }
            event = events.next() => event,
        };
        match event {
            Some(ChatEvent::Chunk(chunk)) => {
                if let Some(text) = chunk.text() {
                    out(text);
                }
            }
            Some(ChatEvent::Complete(done)) => {
                out("\n");
                if let Some(u) = &done.result.usage {
                    note!(
                        "usage: {} prompt + {} completion = {} tokens",
                        u.prompt_tokens,
                        u.completion_tokens,
                        u.total_tokens
                    );
                }
                return match done.reason {
                    CompleteReason::Done => Ok(Ended::Done),
                    CompleteReason::Eof => Err(Failure::failed(
                        "the answer ended without [DONE]: the connection was cut",
                    )),
                    other => Err(Failure::failed(format!(
                        "the answer ended early ({other:?})"
                    ))),
                };
            }
            Some(ChatEvent::Error(e)) => {
                out("\n");
                return Err(Failure::from_error("the chat request", &e.error));
            }
            Some(_) => {}
            None => return Err(Failure::failed("the answer ended without a result")),
        }
    }
}
