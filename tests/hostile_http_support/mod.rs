//! A hostile HTTP server on 127.0.0.1 written over raw TCP, so that every byte (a head
//! that never ends, a body cut mid-event, a reset, a lying `Content-Length`) is the
//! test's: each connection's request is read, then a script does what it likes with the
//! socket. The server counts the connections it accepted and those it saw the client
//! close.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use vivavoce::chat::{ChatEvent, ChatOptions, message};

use crate::chat_support::read_request;

/// The key the tests send: it must never show in an error, a log or a `Debug`.
pub const KEY: &str = "sk-hostile-secret-4242";

/// What a script did with its connection.
pub enum After {
    /// Hands the socket back: the server waits (up to 20 s) for the client to close it.
    AwaitClose(TcpStream),
    /// The client closed it (a write failed): counted as closed.
    PeerGone,
    /// The script closed or reset it itself.
    Closed,
}

/// A running hostile server; stops accepting when dropped.
pub struct Hostile {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits (up to 10 s) until the client has closed `n` connections; says whether it did.
    pub async fn closed_by_client(&self, n: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if self.closed.load(Ordering::SeqCst) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// The URL of the Chat Completions endpoint (the server answers any path).
    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    /// A request to this server, with the key.
    pub fn options(&self) -> ChatOptions {
        ChatOptions::new("gpt-4o-mini", vec![message::user("Hi")])
            .url(self.url())
            .api_key(KEY)
    }
}

/// Starts a server running `script` on each connection once its request has been read.
pub async fn hostile<F, Fut>(script: F) -> Hostile
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = After> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let script = Arc::new(script);
    let task = tokio::spawn({
        let (accepted, closed) = (accepted.clone(), closed.clone());
        async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (script, closed) = (script.clone(), closed.clone());
                tokio::spawn(async move {
                    if read_request(&mut socket).await.is_none() {
                        return;
                    }
                    match script(socket).await {
                        After::AwaitClose(socket) => {
                            if closes_within(socket, Duration::from_secs(20)).await {
                                closed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        After::PeerGone => {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                        After::Closed => {}
                    }
                });
            }
        }
    });
    Hostile {
        addr,
        accepted,
        closed,
        task,
    }
}

/// Whether the client closes (or resets) the connection within `limit`; what it sends
/// meanwhile is read and thrown away.
async fn closes_within(mut socket: TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let closed = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, closed).await.is_ok()
}

/// Writes `bytes`; `false` if the client has gone.
pub async fn send(socket: &mut TcpStream, bytes: impl AsRef<[u8]>) -> bool {
    socket.write_all(bytes.as_ref()).await.is_ok() && socket.flush().await.is_ok()
}

/// A response head: the status line and these headers, the blank line after them.
pub fn head(status: &str, headers: &[&str]) -> String {
    let mut h = format!("HTTP/1.1 {status}\r\n");
    for line in headers {
        h.push_str(line);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

/// The head of a 200 event stream whose body ends when the connection closes.
pub fn sse_head() -> String {
    head(
        "200 OK",
        &["content-type: text/event-stream", "connection: close"],
    )
}

/// One Chat Completions chunk adding `text`, as an SSE event.
pub fn chunk(text: &str) -> String {
    let data = serde_json::json!({
        "id": "chatcmpl-h", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    format!("data: {data}\n\n")
}

/// A whole response with this status, headers and body (its length given).
pub fn answer(status: &str, headers: &[&str], body: &str) -> String {
    let length = format!("content-length: {}", body.len());
    let mut all: Vec<&str> = headers.to_vec();
    all.push(&length);
    all.push("connection: close");
    head(status, &all) + body
}

/// Checks the terminal event never shows the key, in `Debug` or in the error's text.
pub fn assert_no_key(end: &ChatEvent) {
    assert!(!format!("{end:?}").contains(KEY), "the key leaked: {end:?}");
    if let ChatEvent::Error(e) = end {
        assert!(!e.error.to_string().contains(KEY));
    }
}
