//! Validation cost per outgoing event, as `send` pays it with a validator on (JSON text →
//! value → schema): a typical `session.update`, an `input_audio_buffer.append` with 100 ms
//! of audio, and a `response.create`. Target: ≤ 20 µs each.
//!
//! Run: `cargo bench --bench schema`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use vivavoce::realtime::events::InputAudioBufferAppend;
use vivavoce::realtime::{ClientEvent, EventCheck};
use vivavoce::schema::Validator;

fn events() -> Vec<(&'static str, String)> {
    let session = json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "You are a helpful voice assistant. Keep answers short.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "noise_reduction": {"type": "near_field"},
                    "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                        "silence_duration_ms": 500, "create_response": true, "interrupt_response": true}
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0}
            },
            "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "tool_choice": "auto"
        }
    });
    let samples: Vec<i16> = (0..2400).map(|i| ((i * 37) % 2000) as i16 - 1000).collect();
    let append = serde_json::to_value(ClientEvent::from(InputAudioBufferAppend::from_pcm16(
        &samples,
    )))
    .unwrap();
    let create = json!({"type": "response.create", "response": {"instructions": "Answer briefly.",
        "output_modalities": ["audio"], "metadata": {"turn": "3"}}});
    vec![
        ("session_update", session.to_string()),
        ("input_audio_buffer_append_100ms", append.to_string()),
        ("response_create", create.to_string()),
    ]
}

fn validate(c: &mut Criterion) {
    let v = Validator::shared().unwrap();
    let mut group = c.benchmark_group("validate_outgoing");
    for (name, text) in events() {
        let ty = serde_json::from_str::<serde_json::Value>(&text).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned();
        v.outgoing(&ty, &text)
            .expect("the benchmark's events are valid");
        group.bench_function(name, |b| {
            b.iter(|| v.outgoing(&ty, black_box(&text)).unwrap())
        });
    }
    group.finish();
    c.bench_function("validator_compile_all_57", |b| {
        b.iter(|| Validator::new().unwrap())
    });
}

criterion_group!(benches, validate);
criterion_main!(benches);
