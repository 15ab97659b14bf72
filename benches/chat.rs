//! The SSE parser and accumulation on a recorded-shape stream: 1,000 OpenAI-style chunks
//! (role chunk, content chunks of a few tokens, finish chunk, usage chunk, `[DONE]`), fed
//! in 1,400-byte network reads. Reports time per chunk.
//!
//! Run: `cargo bench --bench chat`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vivavoce::chat::{Accumulator, Delta, SseParser};

fn recorded() -> (Vec<u8>, u64) {
    let head = r#""id":"chatcmpl-CCXGRmTlVT2bJXq2UGIrm","object":"chat.completion.chunk","created":1757000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559""#;
    let mut s = String::new();
    s.push_str(&format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
    let words = [
        "Hello", " there", ",", " how", " can", " I", " help", " you", " today", "?",
    ];
    for i in 0..997 {
        let w = words[i % words.len()];
        s.push_str(&format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
    }
    s.push_str(&format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n"));
    s.push_str(&format!("data: {{{head},\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":997,\"total_tokens\":1009}}}}\n\n"));
    s.push_str("data: [DONE]\n\n");
    (s.into_bytes(), 1000)
}

fn parse_and_accumulate(c: &mut Criterion) {
    let (bytes, chunks) = recorded();
    let mut group = c.benchmark_group("chat_stream");
    group.throughput(Throughput::Elements(chunks));
    group.bench_function("sse_parse_accumulate_1000_chunks", |b| {
        b.iter(|| {
            let mut parser = SseParser::new(1 << 20);
            let mut acc = Accumulator::default();
            let mut n = 0;
            for read in bytes.chunks(1400) {
                parser
                    .feed(read, |ev| {
                        n += 1;
                        if ev.data != "[DONE]" {
                            acc.add(&Delta::parse(&ev.data).unwrap());
                        }
                    })
                    .unwrap();
            }
            assert_eq!(n, 1001);
            black_box(acc.choices[0].content.len())
        })
    });
    group.bench_function("sse_parse_only_1000_chunks", |b| {
        b.iter(|| {
            let mut parser = SseParser::new(1 << 20);
            let mut n = 0usize;
            for read in bytes.chunks(1400) {
                parser.feed(read, |ev| n += ev.data.len()).unwrap();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_accumulate);
criterion_main!(benches);
