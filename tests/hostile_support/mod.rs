//! A hostile Realtime server on 127.0.0.1 for `hostile_ws.rs`: it reads the handshake
//! itself, so each connection can answer with any status, stall, or speak WebSocket
//! frames byte by byte (broken ones too); and the runner every case goes through, which
//! bounds the case in time and checks that no task or thread outlives it.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Bytes, Message};

pub const KEY: &str = "sk-hostile-0123456789abcdef";

/// Cases run so far: each runtime names its threads after its case's number.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Threads of this process named `name`, from `/proc/self/task`: a runtime's, and any
/// thread started from them without a name of its own (Linux gives it its parent's).
pub fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Resident and peak resident memory of the process, in bytes (`/proc/self/status`).
pub fn memory() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .expect("a memory field")
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Cases that measure memory run one at a time.
pub static MEMORY: Mutex<()> = Mutex::new(());

/// Runs a case on its own two-thread runtime, failing it after `limit`; then checks that
/// every task (the connection's, the server's) has ended and that the runtime has no
/// more threads than it started with (its two workers).
pub fn run<F>(limit: Duration, case: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let name = format!("hostile-ws-{}", RUNS.fetch_add(1, Ordering::SeqCst));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(&name)
        .enable_all()
        .build()
        .expect("a runtime");
    let threads = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        threads_named(&name)
    });
    assert_eq!(threads, 2, "the two workers");
    rt.block_on(async move {
        tokio::time::timeout(limit, case)
            .await
            .expect("the case did not finish in time");
    });
    let metrics = rt.metrics();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.num_alive_tasks() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} task(s) still alive 10 s after the case",
                metrics.num_alive_tasks()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(threads_named(&name), threads, "threads left behind");
    drop(rt);
}

/// `timeout` that fails the case.
pub async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {limit:?}"))
}

/// A server frame (never masked): `opcode` 0 continuation, 1 text, 2 binary, 8 close,
/// 9 ping, 10 pong; `len` is the length announced, which may differ from the payload's.
pub fn frame_header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    if len < 126 {
        out.push(len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out
}

/// A whole server frame.
pub fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(opcode, fin, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A text event the client parses: `response.output_text.delta` carrying `delta`.
pub fn delta_event(delta: &str) -> String {
    serde_json::json!({"type": "response.output_text.delta", "event_id": "e", "response_id": "r",
        "item_id": "i", "output_index": 0, "content_index": 0, "delta": delta})
    .to_string()
}

/// Reads a client's raw frames (masked) until its close frame; its code, or `None` when
/// the socket ended first.
pub async fn client_close_code(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Option<u16> {
    let mut head = [0u8; 2];
    loop {
        stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.ok()?),
            127 => stream.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        stream.read_exact(&mut mask).await.ok()?;
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await.ok()?;
        if head[0] & 0x0f == 8 {
            let code = [payload[0] ^ mask[0], payload[1] ^ mask[1]];
            return Some(u16::from_be_bytes(code));
        }
    }
}

/// A connection whose handshake request has been read and not answered.
pub struct Incoming {
    pub stream: TcpStream,
    /// 0 for the first connection, 1 for the second, …
    pub index: usize,
    /// The request's head.
    pub head: String,
}

impl Incoming {
    /// Answers `101 Switching Protocols`.
    pub async fn accept(mut self) -> Peer {
        let key = self
            .head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("a Sec-WebSocket-Key");
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        self.stream.write_all(answer.as_bytes()).await.unwrap();
        let ws = WebSocketStream::from_raw_socket(self.stream, Role::Server, None).await;
        Peer {
            ws,
            index: self.index,
        }
    }

    /// Answers `status` with `headers` and a JSON `body`, in one write, and closes.
    pub async fn refuse(mut self, status: u16, headers: &[(&str, &str)], body: &str) {
        let mut answer = format!(
            "HTTP/1.1 {status} Refused\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            answer.push_str(&format!("{name}: {value}\r\n"));
        }
        answer.push_str("\r\n");
        answer.push_str(body);
        let _ = self.stream.write_all(answer.as_bytes()).await;
        let _ = self.stream.shutdown().await;
    }
}

/// An open WebSocket connection, server side.
pub struct Peer {
    pub ws: WebSocketStream<TcpStream>,
    pub index: usize,
}

impl Peer {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    /// `session.created`, as the API's first event.
    pub async fn session_created(&mut self) {
        let id = format!("sess_{}", self.index);
        self.send_text(
            serde_json::json!({"type": "session.created", "event_id": "event_0",
            "session": {"type": "realtime", "object": "realtime.session", "id": id}})
            .to_string(),
        )
        .await;
    }

    /// Writes raw bytes on the socket, past the WebSocket layer.
    pub async fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.ws.flush().await.ok();
        let stream = self.ws.get_mut();
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    pub async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    /// Reads until the client closes; returns its close code (`None`: the socket ended
    /// without one) and the pongs it sent meanwhile.
    pub async fn until_closed(&mut self) -> (Option<u16>, usize) {
        let mut pongs = 0;
        while let Some(msg) = self.ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return (frame.map(|f| f.code.into()), pongs),
                Ok(Message::Pong(_)) => pongs += 1,
                Ok(_) => {}
                Err(_) => return (None, pongs),
            }
        }
        (None, pongs)
    }

    /// Pings with `payload` (at most 125 bytes).
    pub async fn ping(&mut self, payload: &'static [u8]) -> bool {
        self.ws
            .send(Message::Ping(Bytes::from_static(payload)))
            .await
            .is_ok()
    }
}

/// The hostile server: each connection goes to the handler after its handshake request
/// has been read. Dropping it ends every connection's task.
pub struct Hostile {
    pub addr: SocketAddr,
    /// Handshake requests read so far, with when each came.
    pub handshakes: Arc<Mutex<Vec<Instant>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Hostile {
    pub async fn start<F, Fut>(handler: F) -> Hostile
    where
        F: Fn(Incoming) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        let count = Arc::new(AtomicUsize::new(0));
        let accepting = tokio::spawn(async move {
            // Owned by this task: aborting it aborts every connection.
            let mut connections = JoinSet::new();
            let handler = Arc::new(handler);
            loop {
                let (mut stream, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    Some(_) = connections.join_next() => continue,
                };
                let index = count.fetch_add(1, Ordering::SeqCst);
                let (seen, handler) = (seen.clone(), handler.clone());
                connections.spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    seen.lock().unwrap().push(Instant::now());
                    let head = String::from_utf8_lossy(&head).into_owned();
                    handler(Incoming {
                        stream,
                        index,
                        head,
                    })
                    .await;
                });
            }
        });
        Hostile {
            addr,
            handshakes,
            accepting,
        }
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.lock().unwrap().len()
    }

    pub fn options(&self) -> vivavoce::realtime::ConnectOptions {
        vivavoce::realtime::ConnectOptions::default()
            .api_key(KEY)
            .base_url(format!("ws://{}/v1/realtime", self.addr))
            .close_timeout(Duration::from_secs(2))
    }
}

/// What a server's handler (run once per connection) reports back to the test, once:
/// the first `send` is delivered, later ones are dropped.
pub struct Report<T>(Arc<Mutex<Option<tokio::sync::oneshot::Sender<T>>>>);

impl<T> Clone for Report<T> {
    fn clone(&self) -> Self {
        Report(self.0.clone())
    }
}

impl<T> Report<T> {
    pub fn send(&self, value: T) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(value);
        }
    }
}

/// A [`Report`] and where the test receives it.
pub fn report<T>() -> (Report<T>, tokio::sync::oneshot::Receiver<T>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (Report(Arc::new(Mutex::new(Some(tx)))), rx)
}
