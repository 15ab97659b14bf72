//! What the chat tests share: running a request to its terminal event, the fixtures,
//! and reading a raw HTTP request in the tests' small scripted servers.
#![allow(dead_code, unused_macros, unused_imports)]

use std::time::Duration;

use std::net::SocketAddr;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vivavoce::chat::{
    Accumulated, ChatError, ChatEvent, ChatOptions, ChatStream, Chunk, CompleteReason,
    extract_content, start_request,
};

/// A fixture from `tests/fixtures/chat/`, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/chat/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// What a request delivered: its chunks, and its terminal event.
pub struct Run {
    pub chunks: Vec<Chunk>,
    pub end: ChatEvent,
}

impl Run {
    pub fn texts(&self) -> String {
        self.chunks.iter().filter_map(Chunk::text).collect()
    }

    pub fn reasoning(&self) -> String {
        self.chunks.iter().filter_map(Chunk::reasoning).collect()
    }

    /// The error a request that failed ended with.
    pub fn failed(&self) -> &ChatError {
        match &self.end {
            ChatEvent::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The result of a request that completed normally (at `[DONE]` or its wire's end).
    pub fn done(&self) -> &Accumulated {
        match &self.end {
            ChatEvent::Complete(c) => {
                assert_eq!(c.reason, CompleteReason::Done);
                &c.result
            }
            other => panic!("expected Complete, got {other:?}"),
        }
    }
}

/// Runs one request with `options` to its terminal event (channel of `capacity`), and
/// checks nothing comes after it.
pub async fn run_options(options: ChatOptions, capacity: usize) -> Run {
    let (tx, mut rx) = mpsc::channel(capacity);
    let _stop = start_request(options, tx).unwrap();
    let mut chunks = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .expect("a terminal event");
        match ev {
            ChatEvent::Chunk(c) => chunks.push(c),
            end => {
                assert!(
                    rx.recv().await.is_none(),
                    "the channel closes after the terminal event"
                );
                return Run { chunks, end };
            }
        }
    }
}

/// Reads one HTTP request; its head (lowercased) and body, or `None` if the client left
/// before sending it whole.
pub async fn read_request(socket: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
            return Some((head, body));
        }
    }
}

/// A server that answers one request with `answer` (a whole HTTP response) and hands
/// back the request's head (lowercased) and body.
pub async fn serve_once(answer: String) -> (SocketAddr, JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let (head, body) = read_request(&mut socket).await.expect("a whole request");
        socket.write_all(answer.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        (head, body)
    });
    (addr, task)
}

/// A whole HTTP/1.1 response with `body`.
pub fn http_answer(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads a stream to its end: the chunks' texts, and the terminal event.
pub async fn drain(mut events: ChatStream) -> (String, ChatEvent) {
    let mut text = String::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("in time")
            .expect("a terminal event");
        match event {
            ChatEvent::Chunk(_) => text.push_str(extract_content(&event).unwrap_or_default()),
            terminal => {
                assert!(events.next().await.is_none(), "the stream ends after it");
                return (text, terminal);
            }
        }
    }
}
