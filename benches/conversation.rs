//! The conversation layer's CPU per event on top of the raw session: a spoken answer's
//! events (created, items, parts, 100 ms audio deltas with their transcript deltas,
//! dones, usage) and a function-call response, each fed through the layer, against
//! handing the same events on untouched.
//!
//! Run: `cargo bench --bench conversation`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vivavoce::realtime::ServerEvent;
use vivavoce::realtime::conversation::bench::Fed;
use vivavoce::realtime::conversation::{ConversationOptions, Prices};
use vivavoce::realtime::events::InputAudioBufferAppend;

/// The events of one spoken response of `words` words (one 100 ms delta per word).
fn spoken(n: usize, words: usize) -> Vec<String> {
    let (r, i) = (format!("resp_{n}"), format!("item_{n}"));
    let prev = if n == 0 {
        "null".to_owned()
    } else {
        format!("\"item_{}\"", n - 1)
    };
    let ids = format!(r#""response_id":"{r}","item_id":"{i}","output_index":0,"content_index":0"#);
    let audio = InputAudioBufferAppend::from_pcm16(&[1200; 2400]).audio;
    let item = |status: &str, transcript: &str| {
        format!(
            r#"{{"id":"{i}","object":"realtime.item","type":"message","status":"{status}","role":"assistant","content":[{{"type":"output_audio","transcript":"{transcript}"}}]}}"#
        )
    };
    let mut e = vec![
        r#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":1000,"item_id":"u"}"#.to_owned(),
        format!(r#"{{"type":"response.created","response":{{"id":"{r}","object":"realtime.response","status":"in_progress","conversation_id":"conv","output":[]}}}}"#),
        r#"{"type":"rate_limits.updated","rate_limits":[{"name":"requests","limit":1000,"remaining":999,"reset_seconds":1.0},{"name":"tokens","limit":50000,"remaining":49000,"reset_seconds":2.0}]}"#.to_owned(),
        format!(r#"{{"type":"response.output_item.added","response_id":"{r}","output_index":0,"item":{}}}"#, item("in_progress", "")),
        format!(r#"{{"type":"conversation.item.added","previous_item_id":{prev},"item":{}}}"#, item("in_progress", "")),
        format!(r#"{{"type":"response.content_part.added",{ids},"part":{{"type":"audio","transcript":""}}}}"#),
    ];
    let mut transcript = String::new();
    for w in 0..words {
        e.push(format!(
            r#"{{"type":"response.output_audio.delta",{ids},"delta":"{audio}"}}"#
        ));
        let word = format!("word{w} ");
        transcript.push_str(&word);
        e.push(format!(
            r#"{{"type":"response.output_audio_transcript.delta",{ids},"delta":"{word}"}}"#
        ));
    }
    e.push(format!(r#"{{"type":"response.output_audio.done",{ids}}}"#));
    e.push(format!(
        r#"{{"type":"response.output_audio_transcript.done",{ids},"transcript":"{transcript}"}}"#
    ));
    e.push(format!(r#"{{"type":"response.content_part.done",{ids},"part":{{"type":"audio","transcript":"{transcript}"}}}}"#));
    e.push(format!(
        r#"{{"type":"conversation.item.done","previous_item_id":{prev},"item":{}}}"#,
        item("completed", &transcript)
    ));
    e.push(format!(
        r#"{{"type":"response.output_item.done","response_id":"{r}","output_index":0,"item":{}}}"#,
        item("completed", &transcript)
    ));
    e.push(format!(r#"{{"type":"response.done","response":{{"id":"{r}","object":"realtime.response","status":"completed","conversation_id":"conv","output":[{}],"usage":{{"total_tokens":300,"input_tokens":200,"output_tokens":100,"input_token_details":{{"text_tokens":50,"audio_tokens":150,"cached_tokens":100}},"output_token_details":{{"text_tokens":20,"audio_tokens":80}}}}}}}}"#, item("completed", &transcript)));
    e
}

fn conversation(c: &mut Criterion) {
    let events: Vec<ServerEvent> = (0..20)
        .flat_map(|n| spoken(n, 20))
        .map(ServerEvent::from_json)
        .collect();
    assert!(
        events.iter().all(|e| !matches!(
            e,
            ServerEvent::Malformed { .. } | ServerEvent::Unknown { .. }
        )),
        "the recorded events parse"
    );
    let mut group = c.benchmark_group("conversation");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("raw_session", |b| {
        // The guard is allocated after the events, as the layer is in the other case, so
        // that freeing them never shrinks the heap inside one measurement and not the
        // other.
        b.iter_batched(
            || (events.clone(), vec![1u8; 4096]),
            |(events, guard)| {
                for e in events {
                    black_box(e);
                }
                guard
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("with_layer", |b| {
        b.iter_batched(
            || {
                (
                    events.clone(),
                    Fed::new(ConversationOptions::default().prices(Prices::default())),
                )
            },
            |(events, mut fed)| {
                for e in events {
                    black_box(fed.feed(e));
                }
                fed
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, conversation);
criterion_main!(benches);
