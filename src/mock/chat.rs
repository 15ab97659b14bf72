//! The Chat Completions simulator: `POST /v1/chat/completions` over HTTP/1.1 on
//! 127.0.0.1, streaming (SSE) and not, in OpenAI's chunk shape, with scriptable faults.
//!
//! The HTTP is written by hand on purpose: tests of SSE parsers need control over write
//! boundaries (a UTF-8 character split across writes), stalls and drops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::chat_options::{ChatFault, ChatSimulatorOptions};
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
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
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

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn respond_json(stream: &mut TcpStream, status: u16, extra: &str, body: &Value) {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn api_error(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let options = &state.options;
    let _ = stream.set_nodelay(true);
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    // A raw stream is served at Anthropic's path too, for its fixtures.
    let messages = options.raw_stream.is_some() && head.starts_with("POST /v1/messages ");
    if !head.starts_with("POST /v1/chat/completions ") && !messages {
        let e = api_error("Not found.", "invalid_request_error", None, None);
        return respond_json(&mut stream, 404, "", &e).await;
    }
    let wrong_key = options.api_key.as_ref().is_some_and(|key| {
        let given = if messages {
            header(&head, "x-api-key")
        } else {
            header(&head, "authorization").and_then(|v| v.strip_prefix("Bearer "))
        };
        given != Some(key.as_str())
    });
    if wrong_key || options.fault == ChatFault::Status(401) {
        let e = api_error(
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
        );
        return respond_json(&mut stream, 401, "", &e).await;
    }
    match options.fault {
        ChatFault::Status(429) => {
            let e = api_error(
                "Rate limit reached for requests.",
                "requests",
                Some("rate_limit_exceeded"),
                None,
            );
            return respond_json(&mut stream, 429, "retry-after: 1\r\n", &e).await;
        }
        ChatFault::Status(status) => {
            let e = api_error(
                "The server had an error while processing your request.",
                "server_error",
                None,
                None,
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
        let e = api_error(
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
            None,
        );
        return respond_json(&mut stream, 400, "", &e).await;
    };
    if request
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty())
    {
        let e = api_error(
            "[] is too short - 'messages'",
            "invalid_request_error",
            None,
            Some("messages"),
        );
        return respond_json(&mut stream, 400, "", &e).await;
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-4o-mini")
        .to_owned();
    let stream_mode = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let text = if options.echo_user {
        echo_user(&request, &options.reply_text)
    } else {
        options.reply_text.clone()
    };
    let reply = super::chat_chunks::Reply::new(options, &text, &model);
    if stream_mode {
        let outcome = super::chat_chunks::stream(&mut stream, options, &reply, include_usage).await;
        let counter = if outcome.is_ok() {
            &state.finished
        } else {
            &state.cut
        };
        counter.fetch_add(1, Ordering::SeqCst);
    } else {
        respond_json(&mut stream, 200, "", &reply.completion()).await;
    }
}

/// The reply of [`ChatSimulatorOptions::echo_user`]: how many user messages came, the
/// last one quoted (its text parts joined when its content is a list), then `reply`.
fn echo_user(request: &Value, reply: &str) -> String {
    let users: Vec<&Value> = request["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "user").collect())
        .unwrap_or_default();
    let last = users.last().map_or(String::new(), |m| match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    });
    format!(
        "(user message {}) You said: \"{last}\". {reply}",
        users.len()
    )
}
