//! CPU per chunk of each wire format, end to end: the same 20,000-chunk answer in each
//! format, read over HTTP on 127.0.0.1 through `chat::stream` on the default
//! multi-threaded runtime (the consumer on the calling thread, as `#[tokio::main]` runs
//! it).
//!
//! Each format's answer is rendered once by the chat simulator and then served from
//! memory by a small server in this process (one write of the cached body per request),
//! so the time is the client's: what is measured is the process's CPU time (user +
//! system, `getrusage`) per chunk, which includes the kernel's copies on both ends of
//! the socket but hardly any server work.
//!
//! Run: `cargo bench --bench chat_wires` (every format), `… -- anthropic` (one).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vivavoce::chat::{ChatEvent, ChatOptions, CompleteReason, Wire, stream};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

/// Content chunks per answer.
const CHUNKS: usize = 20_000;

/// One format: its name, wire, path (the API root for Gemini), and the path its stream
/// is served at.
struct Format {
    name: &'static str,
    wire: Wire,
    url_path: &'static str,
    stream_path: &'static str,
}

const FORMATS: &[Format] = &[
    Format {
        name: "openai",
        wire: Wire::OpenAI,
        url_path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions",
    },
    Format {
        name: "anthropic",
        wire: Wire::Anthropic,
        url_path: "/v1/messages",
        stream_path: "/v1/messages",
    },
    Format {
        name: "gemini",
        wire: Wire::Gemini,
        url_path: "/v1beta",
        stream_path: "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse",
    },
    Format {
        name: "ollama",
        wire: Wire::Ollama,
        url_path: "/api/chat",
        stream_path: "/api/chat",
    },
    Format {
        name: "responses",
        wire: Wire::Responses,
        url_path: "/v1/responses",
        stream_path: "/v1/responses",
    },
];

fn options(addr: SocketAddr, f: &Format) -> ChatOptions {
    ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Tell me a long story."})],
    )
    .wire(f.wire)
    .url(format!("http://{addr}{}", f.url_path))
    .api_key("sk-simulator")
}

/// The simulator's streamed answer in format `f`, as bytes: asked once with the body the
/// engine would send.
async fn render(sim: &ChatSimulator, f: &Format) -> Vec<u8> {
    let body: Value = match f.wire {
        Wire::Gemini => json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
        Wire::Responses => json!({"model": "gpt-4o-mini", "input": "Hi", "stream": true}),
        _ => json!({"model": "gpt-4o-mini", "stream": true,
            "messages": [{"role": "user", "content": "Hi"}]}),
    };
    let key = "sk-simulator";
    let resp = reqwest::Client::new()
        .post(format!("http://{}{}", sim.addr(), f.stream_path))
        .header("authorization", format!("Bearer {key}"))
        .header("x-api-key", key)
        .header("x-goog-api-key", key)
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    assert!(resp.status().is_success(), "{}: {}", f.name, resp.status());
    resp.bytes().await.expect("the whole answer").to_vec()
}

/// Serves each cached answer at its path, one write per request, until the runtime ends.
async fn serve(listener: TcpListener, bodies: Arc<HashMap<&'static str, Vec<u8>>>) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            return;
        };
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            let mut len = 0;
            // The request's head and body (the body is small: read until it is all in).
            loop {
                let Ok(n) = tcp.read(&mut buf[len..]).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]);
                if let Some(end) = text.find("\r\n\r\n") {
                    let want = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if len >= end + 4 + want {
                        break;
                    }
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("");
            let Some(body) = FORMATS
                .iter()
                .find(|f| path == f.stream_path)
                .and_then(|f| bodies.get(f.name))
            else {
                return;
            };
            let kind = if path == "/api/chat" {
                "application/x-ndjson"
            } else {
                "text/event-stream"
            };
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\nconnection: close\r\n\r\n");
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.write_all(body).await;
            let _ = tcp.shutdown().await;
        });
    }
}

/// Reads one answer; returns how many chunks added text.
async fn read(options: ChatOptions) -> usize {
    let mut events = stream(options).expect("the request's options are valid");
    let mut texts = 0;
    while let Some(event) = events.next().await {
        match event {
            ChatEvent::Chunk(chunk) => {
                texts += usize::from(chunk.text().is_some_and(|t| !t.is_empty()))
            }
            ChatEvent::Complete(done) => {
                assert_eq!(done.reason, CompleteReason::Done);
                break;
            }
            ChatEvent::Error(e) => panic!("the stream failed: {e}"),
            _ => {}
        }
    }
    texts
}

/// The process's CPU time so far (user + system).
fn cpu() -> Duration {
    // SAFETY: getrusage writes the struct it is given, which lives on this stack.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn wires(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (addr, _sim) = rt.block_on(async {
        let sim = ChatSimulator::start(ChatSimulatorOptions::default().chunk_count(CHUNKS))
            .await
            .expect("the simulator starts");
        let mut bodies = HashMap::new();
        for f in FORMATS {
            bodies.insert(f.name, render(&sim, f).await);
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(serve(listener, Arc::new(bodies)));
        (addr, sim)
    });
    let mut group = c.benchmark_group("chat_wires_cpu");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.sample_size(10);
    for f in FORMATS {
        group.bench_function(f.name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = cpu();
                    let texts = rt.block_on(read(options(addr, f)));
                    total += cpu().saturating_sub(start);
                    assert_eq!(texts, CHUNKS, "{}: chunks with text", f.name);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wires);
criterion_main!(benches);
