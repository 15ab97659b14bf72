//! A small scriptable Realtime server on 127.0.0.1 for the connection tests: real
//! WebSocket handshakes (with the API's 401 body for a wrong key), and the
//! client-secrets HTTP endpoint.
#![allow(dead_code)]
// tungstenite fixes the callback's error type.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

pub const KEY: &str = "sk-test-0123456789abcdef";

/// A second key the server always accepts, even after `refuse_from` revoked [`KEY`].
pub const FRESH_KEY: &str = "ek-test-fresh";

pub const UNAUTHORIZED: &str = r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#;

/// One accepted WebSocket connection.
pub struct Conn {
    pub ws: WebSocketStream<TcpStream>,
    /// 0 for the first connection, 1 for the second, …
    pub index: usize,
    /// Path and query of the handshake.
    pub uri: String,
}

impl Conn {
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s)).await.unwrap();
    }

    /// The next text frame as JSON; `None` when the client closed.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn session_created(&mut self) {
        let id = format!("sess_{}", self.index);
        self.send(
            json!({"type": "session.created", "event_id": "event_0", "session": {
            "type": "realtime", "object": "realtime.session", "id": id, "model": "gpt-realtime"}}),
        )
        .await;
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    /// Handshakes from this connection index on are refused with 401 (a revoked key).
    pub refuse_from: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let refuse_from = Arc::new(AtomicUsize::new(usize::MAX));
        let refuse = refuse_from.clone();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let count = count.clone();
                let refuse = refuse.clone();
                tokio::spawn(async move {
                    let mut head = [0u8; 4];
                    if stream.peek(&mut head).await.is_err() {
                        return;
                    }
                    if &head == b"POST" {
                        serve_http(stream).await;
                        return;
                    }
                    let mut uri = String::new();
                    let callback = |req: &Request,
                                    resp: Response|
                     -> Result<Response, ErrorResponse> {
                        uri = req.uri().to_string();
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok());
                        if !req.uri().path().starts_with("/v1/realtime") {
                            return Err(error_response(
                                404,
                                r#"{"error":{"message":"Not found"}}"#,
                            ));
                        }
                        let revoked = count.load(Ordering::SeqCst) >= refuse.load(Ordering::SeqCst);
                        let fresh = auth == Some(&format!("Bearer {FRESH_KEY}"));
                        if !fresh && (revoked || auth != Some(&format!("Bearer {KEY}"))) {
                            return Err(error_response(401, UNAUTHORIZED));
                        }
                        Ok(resp)
                    };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                        return;
                    };
                    let index = count.fetch_add(1, Ordering::SeqCst);
                    handler(Conn { ws, index, uri }).await;
                });
            }
        });
        Server {
            addr,
            connections,
            refuse_from,
            task,
        }
    }

    /// A server whose first connection is lost right after `session.created`, and which
    /// refuses [`KEY`] from then on (a revoked key); connections with [`FRESH_KEY`] stay
    /// open until the client closes them.
    pub async fn lost_then_revoked() -> Server {
        let server = Server::start(|mut c: Conn| async move {
            c.session_created().await;
            if c.index == 0 {
                return;
            }
            while c.recv().await.is_some() {}
        })
        .await;
        server.refuse_from.store(1, Ordering::SeqCst);
        server
    }

    pub fn base_url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

fn error_response(status: u16, body: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(body.to_owned()));
    *r.status_mut() = status.try_into().unwrap();
    r
}

/// `POST /v1/realtime/client_secrets`, answered from the request's session.
async fn serve_http(mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = stream.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Value =
        serde_json::from_slice(&buf[header_end..header_end + len]).unwrap_or(Value::Null);
    let authorized = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {KEY}")));
    let (status, answer) = if !head.starts_with("POST /v1/realtime/client_secrets ") {
        (404, r#"{"error":{"message":"Not found"}}"#.to_owned())
    } else if !authorized {
        (401, UNAUTHORIZED.to_owned())
    } else {
        let mut session = body["session"].clone();
        session["id"] = json!("sess_secret");
        session["object"] = json!("realtime.session");
        let seconds = body["expires_after"]["seconds"].as_i64().unwrap_or(600);
        (200, json!({"value": "ek_test_secret", "expires_at": 1_000_000 + seconds, "session": session}).to_string())
    };
    let reply = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The next event, failing the test after 10 s of silence.
pub async fn next(
    rx: &mut vivavoce::realtime::EventReceiver,
) -> Option<vivavoce::realtime::ServerEvent> {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
}

/// Connects with `options` and checks that `session.created` comes first.
pub async fn connected(
    options: vivavoce::realtime::ConnectOptions,
) -> (
    vivavoce::realtime::EventSender,
    vivavoce::realtime::EventReceiver,
) {
    let (tx, mut rx) = vivavoce::realtime::connect(options).await.unwrap();
    match next(&mut rx).await {
        Some(vivavoce::realtime::ServerEvent::SessionCreated(_)) => {}
        other => panic!("expected session.created first, got {other:?}"),
    }
    (tx, rx)
}

pub fn options(server: &Server) -> vivavoce::realtime::ConnectOptions {
    vivavoce::realtime::ConnectOptions::default()
        .api_key(KEY)
        .base_url(server.base_url())
}

/// Collects everything the crate logs up to `level`, as plain text, while the guard lives
/// (on this thread: a current-thread test runtime runs the crate's tasks here too).
#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture(level: tracing::Level) -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
