//! Time per chunk of each wire format, end to end: a 20,000-chunk streamed answer from the
//! chat simulator on 127.0.0.1, read over HTTP through `chat::stream` on the default
//! multi-threaded runtime (the consumer on the calling thread, as `#[tokio::main]` runs
//! it). The simulator is started once and answers every wire format at its own path; it
//! runs in this process, so the time includes its writing.
//!
//! Run: `cargo bench --bench chat_wires` (every format), `… -- anthropic` (one).

use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use serde_json::json;
use vivavoce::chat::{ChatEvent, ChatOptions, CompleteReason, Wire, stream};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

/// Content chunks per answer.
const CHUNKS: usize = 20_000;

/// The request of one wire format for the simulator at an address.
type Request = fn(SocketAddr) -> ChatOptions;

/// The formats measured, by name.
const WIRES: &[(&str, Request)] = &[
    ("openai", |addr| {
        request(format!("http://{addr}/v1/chat/completions"))
    }),
    ("anthropic", |addr| {
        request(format!("http://{addr}/v1/messages")).wire(Wire::Anthropic)
    }),
];

fn request(url: String) -> ChatOptions {
    ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Tell me a long story."})],
    )
    .url(url)
    .api_key("sk-simulator")
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

fn wires(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let sim = rt
        .block_on(ChatSimulator::start(
            ChatSimulatorOptions::default().chunk_count(CHUNKS),
        ))
        .expect("the simulator starts");
    let mut group = c.benchmark_group("chat_wires");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.sample_size(10);
    for (name, options) in WIRES {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let texts = rt.block_on(read(options(sim.addr())));
                assert_eq!(texts, CHUNKS, "{name}: chunks with text");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wires);
criterion_main!(benches);
