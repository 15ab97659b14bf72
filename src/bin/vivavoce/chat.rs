//! `vivavoce chat`: one Chat Completion, streamed to the terminal as it is written.

use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use vivavoce::chat::{
    ChatConfig, ChatEvent, ChatOptions, CompleteReason, Provider, process_env, stream,
};

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
    /// The model (default: gpt-4o-mini, or the provider's own default).
    #[arg(long)]
    model: Option<String>,
    /// Ask this provider instead: openai, mistral, openrouter, deepseek, groq, xai,
    /// ollama (its native /api/chat), anthropic (its Messages API), gemini (its
    /// streamGenerateContent), openai-responses (or responses: OpenAI's Responses API),
    /// or azure (with AZURE_OPENAI_ENDPOINT set; --model is the deployment). Its key
    /// comes from its variable (MISTRAL_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, …);
    /// no simulator stands in.
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,
    /// The provider's base URL, before /chat/completions (/messages, /responses; Ollama's
    /// host; Gemini's API root such as http://host/v1beta) (with --provider; e.g. a
    /// proxy, or `vivavoce simulate`).
    #[arg(long, value_name = "URL", requires = "provider")]
    base_url: Option<String>,
    /// Allow a plain http:// --base-url on another machine (the key then crosses the
    /// network unencrypted); without it only this machine may be http://.
    #[arg(long, requires = "base_url")]
    allow_insecure: bool,
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
    let (options, _simulator) = match &args.provider {
        Some(name) => (provider_options(name, &args, messages)?, None),
        None => {
            let model = args.model.as_deref().unwrap_or("gpt-4o-mini");
            let options = ChatOptions::new(model, messages).include_usage(true);
            chat_target(options, args.reply.as_deref()).await?
        }
    };
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

/// Options for `--provider NAME`: its URL, key variable and default model.
fn provider_options(
    name: &str,
    args: &ChatArgs,
    messages: Vec<serde_json::Value>,
) -> Result<ChatOptions, Failure> {
    let provider = match name.to_ascii_lowercase().as_str() {
        "azure" => match std::env::var("AZURE_OPENAI_ENDPOINT") {
            Ok(endpoint) => Provider::azure(endpoint),
            Err(_) if args.base_url.is_some() => Provider::azure(""),
            Err(_) => {
                return Err(Failure::usage(
                    "--provider azure needs AZURE_OPENAI_ENDPOINT (or --base-url)",
                ));
            }
        },
        "responses" => Provider::OpenAIResponses,
        lower => Provider::builtin()
            .into_iter()
            .find(|p| p.name() == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = Provider::builtin().iter().map(Provider::name).collect();
                Failure::usage(format!(
                    "unknown provider {name:?}: known providers are {}, azure",
                    known.join(", ")
                ))
            })?,
    };
    let Some(model) = args.model.as_deref().or(provider.default_model()) else {
        return Err(Failure::usage(format!(
            "--provider {} needs --model (its deployment or model name)",
            provider.name()
        )));
    };
    let mut config = ChatConfig::new(provider.clone(), model);
    if let Some(url) = &args.base_url {
        config = config
            .base_url(url.clone())
            .allow_insecure(args.allow_insecure);
    }
    let options = config
        .options(messages, &process_env())
        .map_err(context("the provider"))?
        .include_usage(true);
    if args.reply.is_some() {
        note!("--reply is ignored: {} answers", provider.name());
    }
    note!("using {} ({model})", provider.name());
    Ok(options)
}
