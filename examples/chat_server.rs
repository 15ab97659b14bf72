//! A chat web app: `GET /chat` serves a one-page chat client (plain HTML and JS embedded
//! in the program, nothing fetched from elsewhere), and `POST /chat` takes the
//! conversation so far as JSON (`{"messages": [{"role": "user", "content": "…"}, …]}`)
//! and streams the reply back as Server-Sent Events through `chat::ChatSse`
//! (`{"text": …}` per chunk, `[DONE]` once, errors kept on the server).
//!
//! The page keeps each tab's conversation (in `sessionStorage`) and sends it whole with
//! every message; it reads the stream with `fetch` and a reader, since `EventSource`
//! cannot POST. Its Stop button aborts the fetch: the server drops the response, and
//! `ChatSse` stops the upstream request. A failed request shows as a message in the page.
//!
//! Uses the live API when `OPENAI_API_KEY` is set, otherwise the offline Chat
//! Completions simulator, whose replies quote your last message and count your
//! messages, so you can see the whole conversation reach it.
//!
//! Run: `cargo run --example chat_server -- [--port N] [--model NAME] [--sim-delay MS] [--sim-fail STATUS]`,
//! then open <http://127.0.0.1:3000/chat>.
//!
//! - `--port N`: where to listen on 127.0.0.1 (default 3000; 0 picks a free port).
//! - `--model NAME`: the model (default `gpt-4o-mini`).
//! - Offline only: `--sim-delay MS`, the simulator's pause between words (default 60),
//!   to try Stop on a slow reply; `--sim-fail STATUS`, the simulator answers every
//!   request with this HTTP status (e.g. 500), to see how a failure looks.

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vivavoce::chat::{ChatEvent, ChatOptions, ChatSse, Relay, message, stream};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

const USAGE: &str = "chat_server [--port N] [--model NAME] [--sim-delay MS] [--sim-fail STATUS]";

/// The chat client, embedded at build time.
const PAGE: &str = include_str!("chat_server/page.html");

/// What one request may carry: enough for a long chat, not enough to hurt.
const MAX_MESSAGES: usize = 200;
const MAX_CHARS: usize = 100_000;

/// Where replies come from, and the count of requests.
struct App {
    model: String,
    /// The simulator's URL and key; `None`: the API, with the key from the environment.
    upstream: Option<(String, String)>,
    requests: AtomicU64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse(&["port", "model", "sim-delay", "sim-fail"]) {
        Ok(args) if args.positional().is_empty() => args,
        Ok(_) => return common::usage_error("no positional arguments", USAGE),
        Err(e) => return common::usage_error(&e, USAGE),
    };
    let (port, delay, fail) = match (
        args.number("port", 3000u16),
        args.number("sim-delay", 60u64),
        args.number("sim-fail", 0u16),
    ) {
        (Ok(p), Ok(d), Ok(f)) => (p, d, f),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return common::usage_error(&e, USAGE),
    };
    let model = args.get("model").unwrap_or("gpt-4o-mini").to_owned();
    match serve(port, model, Duration::from_millis(delay), fail).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    port: u16,
    model: String,
    delay: Duration,
    fail: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    // Kept alive while the server runs.
    let mut _simulator = None;
    let upstream = if std::env::var_os("OPENAI_API_KEY").is_some() {
        println!("OPENAI_API_KEY is set: using the OpenAI Chat Completions API");
        None
    } else {
        let mut options = ChatSimulatorOptions::default()
            .reply_text(
                "Here is a reply from the offline simulator, streamed one word at a time \
                 so that you can watch it arrive, or press Stop to cut it short.",
            )
            .echo_user(true)
            .chunk_delay(delay);
        if fail != 0 {
            options = options.fault(ChatFault::Status(fail));
        }
        let sim = Arc::new(ChatSimulator::start(options).await?);
        println!(
            "OPENAI_API_KEY is not set: using the offline simulator at {}",
            sim.url()
        );
        tokio::spawn(report(sim.clone()));
        let upstream = Some((sim.url(), "sk-simulator".to_owned()));
        _simulator = Some(sim);
        upstream
    };
    let app = Arc::new(App {
        model,
        upstream,
        requests: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/", get(|| async { Redirect::to("/chat") }))
        .route("/chat", get(|| async { Html(PAGE) }).post(chat))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("open http://{}/chat", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(())
}

/// `POST /chat`: the conversation in, the reply streamed out.
async fn chat(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let messages = match parse(&body) {
        Ok(messages) => messages,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e),
    };
    let n = app.requests.fetch_add(1, Ordering::Relaxed) + 1;
    println!("request {n}: {} message(s)", messages.len());
    let mut all = vec![message::system("You are a helpful assistant. Be brief.")];
    all.extend(messages);
    let mut options = ChatOptions::new(&app.model, all);
    if let Some((url, key)) = &app.upstream {
        options = options.url(url).api_key(key);
    }
    let events = match stream(options) {
        Ok(events) => events,
        Err(e) => {
            println!("request {n}: did not start: {e}");
            return ChatSse::failed(&e).into_response();
        }
    };
    // Says on the console how each request ended, the browser going away included.
    let mut watch = Watch { n, ended: false };
    ChatSse::new(events)
        .hook(move |event| {
            watch.see(event);
            Relay::Default
        })
        .into_response()
}

/// The messages of a request body, checked: user and assistant turns with text.
fn parse(body: &[u8]) -> Result<Vec<Value>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(messages) = v.get("messages").and_then(Value::as_array) else {
        return Err("expected {\"messages\": [...]}".into());
    };
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(format!("between 1 and {MAX_MESSAGES} messages, please"));
    }
    let mut chars = 0;
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let content = m.get("content").and_then(Value::as_str);
        let Some(content) = content else {
            return Err(format!("message {i} has no text content"));
        };
        chars += content.chars().count();
        match m.get("role").and_then(Value::as_str) {
            Some("user") => out.push(message::user(content)),
            Some("assistant") => out.push(message::assistant(content)),
            _ => return Err(format!("message {i}: the role is user or assistant")),
        }
    }
    if chars > MAX_CHARS {
        return Err(format!("the conversation is over {MAX_CHARS} characters"));
    }
    Ok(out)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// How one request ended, printed once.
struct Watch {
    n: u64,
    ended: bool,
}

impl Watch {
    fn see(&mut self, event: &ChatEvent) {
        match event {
            ChatEvent::Complete(done) => {
                self.ended = true;
                println!(
                    "request {}: reply complete ({:?}, {} characters)",
                    self.n,
                    done.reason,
                    done.result.content.chars().count()
                );
            }
            ChatEvent::Error(e) => {
                self.ended = true;
                // The details stay here; the browser is told only that it failed.
                println!(
                    "request {}: the upstream request failed: {}",
                    self.n, e.error
                );
            }
            _ => {}
        }
    }
}

impl Drop for Watch {
    /// The response was dropped before the reply ended: the browser stopped reading.
    fn drop(&mut self) {
        if !self.ended {
            println!(
                "request {}: the browser went away; the upstream request is stopped",
                self.n
            );
        }
    }
}

/// Offline: says when the simulator finished a stream or saw one cut short.
async fn report(sim: Arc<ChatSimulator>) {
    let (mut finished, mut cut) = (0, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (f, c) = (sim.streams_finished(), sim.streams_cut());
        if f > finished {
            println!("simulator: {f} streams finished");
        }
        if c > cut {
            println!("simulator: {c} streams cut short by the client");
        }
        (finished, cut) = (f, c);
    }
}
