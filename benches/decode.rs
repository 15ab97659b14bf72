//! Decoding server events: a 100 ms `response.output_audio.delta` (24 kHz PCM16, JSON +
//! base64 → i16 samples) and a text delta.
//!
//! Run: `cargo bench --bench decode`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vivavoce::realtime::ServerEvent;
use vivavoce::realtime::events::{InputAudioBufferAppend, RawJson};

fn audio_delta_json() -> String {
    // 100 ms at 24 kHz: a 440 Hz tone.
    let samples: Vec<i16> = (0..2400)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 24000.0).sin() * 8000.0) as i16)
        .collect();
    let b64 = InputAudioBufferAppend::from_pcm16(&samples).audio;
    format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_CCXGRxsAimPAs8kS2Wc7Z","response_id":"resp_CCXGRmTlVT2bJXq2UGIrm","item_id":"item_CCXGRxbY0n6WE4EszhF5w","output_index":0,"content_index":0,"delta":"{b64}"}}"#
    )
}

const TEXT_DELTA: &str = r#"{"type":"response.output_text.delta","event_id":"event_CCXGRxsAimPAs8kS2Wc7Z","response_id":"resp_CCXGRmTlVT2bJXq2UGIrm","item_id":"item_CCXGRxbY0n6WE4EszhF5w","output_index":0,"content_index":0,"delta":"Hello, how"}"#;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");

    let audio = RawJson::from(audio_delta_json());
    group.throughput(Throughput::Bytes(audio.as_str().len() as u64));
    let mut samples = Vec::with_capacity(2400);
    group.bench_function("audio_delta_100ms_to_pcm16", |b| {
        b.iter(|| {
            let ServerEvent::ResponseOutputAudioDelta(d) =
                ServerEvent::parse(black_box(audio.clone()))
            else {
                panic!("not an audio delta")
            };
            samples.clear();
            d.pcm16_into(&mut samples).unwrap();
            black_box(samples.len())
        })
    });

    let text = RawJson::from(TEXT_DELTA);
    group.throughput(Throughput::Bytes(TEXT_DELTA.len() as u64));
    group.bench_function("text_delta", |b| {
        b.iter(|| {
            let ServerEvent::ResponseOutputTextDelta(d) =
                ServerEvent::parse(black_box(text.clone()))
            else {
                panic!("not a text delta")
            };
            black_box(d.delta.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
