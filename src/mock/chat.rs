//! The chat simulator: `POST /v1/chat/completions` over HTTP/1.1 on 127.0.0.1, streaming
//! (SSE) and not, in OpenAI's chunk shape, with scriptable faults — and the same answer
//! and faults at Anthropic's (`/v1/messages`), Gemini's
//! (`/v1beta/models/{model}:streamGenerateContent`), Ollama's (`/api/chat`) and the
//! Responses API's (`/v1/responses`) paths, in their shapes.
//!
//! The HTTP is written by hand on purpose: tests of SSE parsers need control over write
//! boundaries (a UTF-8 character split across writes), stalls and drops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::chat_options::{ChatFault, ChatSimulatorOptions};
use super::chat_reply::ErrorKind;
use super::chat_wire::{Route, SimWire, header};
use super::server::{self, Server};
use crate::Error;

/// A running Chat Completions simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct ChatSimulator {
    server: Server,
    state: Arc<State>,
}

/// The options, and what happened to the streamed answers.
#[derive(Debug)]
struct State {
    options: ChatSimulatorOptions,
    finished: AtomicUsize,
    cut: AtomicUsize,
    /// Requests read so far (which of [`ChatSimulatorOptions::faults`] applies).
    requests: AtomicUsize,
}

impl ChatSimulator {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(options: ChatSimulatorOptions) -> Result<Self, Error> {
        Self::start_on(server::LOCAL, options).await
    }

    /// Binds `addr` (port 0 for a free one) and starts serving: for a simulator other
    /// programs reach at a known address.
    ///
    /// # Errors
    /// [`Error::Connect`] naming the address when it cannot be bound (in use, not local).
    pub async fn start_on(addr: SocketAddr, options: ChatSimulatorOptions) -> Result<Self, Error> {
        let state = Arc::new(State {
            options,
            finished: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        Ok(ChatSimulator {
            server: Server::start(addr, state.clone(), serve).await?,
            state,
        })
    }

    /// Streamed answers written to the end (`[DONE]`, or the injected fault).
    pub fn streams_finished(&self) -> usize {
        self.state.finished.load(Ordering::SeqCst)
    }

    /// Streamed answers cut short because the client closed the connection.
    pub fn streams_cut(&self) -> usize {
        self.state.cut.load(Ordering::SeqCst)
    }

    /// Requests received so far (any path, any outcome).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://127.0.0.1:PORT/v1/chat/completions`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.server.addr)
    }
}

/// Reads one request: head and body.
pub(super) async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..head_end + len].to_vec()))
}

pub(super) async fn respond_json(stream: &mut TcpStream, status: u16, extra: &str, body: &Value) {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Internal Server Error",
    };
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let options = &state.options;
    let _ = stream.set_nodelay(true);
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let attempt = state.requests.fetch_add(1, Ordering::SeqCst);
    let fault = options.faults.get(attempt).unwrap_or(&options.fault);
    let Some(route) = Route::of(&head) else {
        let e = SimWire::OpenAI.error_body(404, ErrorKind::NotFound, "Not found.");
        return respond_json(&mut stream, 404, "", &e).await;
    };
    let wire = route.wire;
    let wrong_key = options
        .api_key
        .as_ref()
        .is_some_and(|key| wire.needs_key() && wire.given_key(&head) != Some(key.as_str()));
    if wrong_key || *fault == ChatFault::Status(401) {
        let e = wire.error_body(401, ErrorKind::Auth, "Incorrect API key provided.");
        return respond_json(&mut stream, 401, "", &e).await;
    }
    match *fault {
        ChatFault::Status(429) => {
            let e = wire.error_body(
                429,
                ErrorKind::RateLimit,
                "Rate limit reached for requests.",
            );
            return respond_json(&mut stream, 429, wire.retry_headers(), &e).await;
        }
        ChatFault::QuotaExceeded => {
            let e = wire.error_body(
                429,
                ErrorKind::Quota,
                "You exceeded your current quota, please check your plan and billing details.",
            );
            return respond_json(&mut stream, 429, "", &e).await;
        }
        ChatFault::Status(status) => {
            let kind = if status == 529 || status == 503 {
                ErrorKind::Overloaded
            } else {
                ErrorKind::Server
            };
            let e = wire.error_body(
                status,
                kind,
                "The server had an error while processing your request.",
            );
            return respond_json(&mut stream, status, "", &e).await;
        }
        _ => {}
    }
    if let Some(raw) = &options.raw_stream {
        let outcome = super::chat_chunks::raw(&mut stream, raw).await;
        let counter = if outcome.is_ok() {
            &state.finished
        } else {
            &state.cut
        };
        counter.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let e = wire.error_body(
            400,
            ErrorKind::BadRequest,
            "We could not parse the JSON body of your request.",
        );
        return respond_json(&mut stream, 400, "", &e).await;
    };
    let Some(users) = wire
        .user_texts(&request)
        .filter(|_| has_messages(wire, &request))
    else {
        let e = wire.error_body(400, ErrorKind::BadRequest, "[] is too short - 'messages'");
        return respond_json(&mut stream, 400, "", &e).await;
    };
    let model = wire.model(&route, &request);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let text = if options.echo_user {
        echo_user(&users, &options.reply_text)
    } else {
        options.reply_text.clone()
    };
    let reply = super::chat_reply::Reply::new(options, &text, &model);
    if wire.streams(&route, &request) {
        let outcome =
            super::chat_chunks::stream(&mut stream, options, fault, wire, &reply, include_usage)
                .await;
        let counter = if outcome.is_ok() {
            &state.finished
        } else {
            &state.cut
        };
        counter.fetch_add(1, Ordering::SeqCst);
    } else {
        respond_json(&mut stream, 200, "", &wire.whole(&reply)).await;
    }
}

/// Whether the request's message list (or the Responses API's `input`) is non-empty.
fn has_messages(wire: SimWire, request: &Value) -> bool {
    let key = match wire {
        SimWire::Gemini => "contents",
        SimWire::Responses => "input",
        _ => "messages",
    };
    match request.get(key) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        _ => false,
    }
}

/// The reply of [`ChatSimulatorOptions::echo_user`]: how many user messages came, the
/// last one quoted, then `reply`.
fn echo_user(users: &[String], reply: &str) -> String {
    let last = users.last().map_or("", String::as_str);
    format!(
        "(user message {}) You said: \"{last}\". {reply}",
        users.len()
    )
}
