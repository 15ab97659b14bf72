//! Playback costs: one device callback per period, and decode + resample of a 100 ms
//! `response.output_audio.delta` to the device rate.
//!
//! Run: `cargo bench --bench playback`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vivavoce::audio::bench::{Callback, Resample};
use vivavoce::realtime::ServerEvent;
use vivavoce::realtime::events::{InputAudioBufferAppend, RawJson};

fn callback(c: &mut Criterion) {
    let mut group = c.benchmark_group("callback");
    for (frames, channels) in [(480usize, 2usize), (1024, 2), (512, 1)] {
        group.throughput(Throughput::Elements(frames as u64));
        let mut cb = Callback::new(channels);
        let mut out = vec![0.0f32; frames * channels];
        group.bench_function(format!("f32_{frames}x{channels}"), |b| {
            b.iter(|| {
                cb.refill();
                cb.render_f32(black_box(&mut out));
            })
        });
        let mut out = vec![0i16; frames * channels];
        group.bench_function(format!("i16_{frames}x{channels}"), |b| {
            b.iter(|| {
                cb.refill();
                cb.render_i16(black_box(&mut out));
            })
        });
    }
    group.finish();
}

fn delta_json() -> RawJson {
    let samples: Vec<i16> = (0..2400)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 24000.0).sin() * 8000.0) as i16)
        .collect();
    let b64 = InputAudioBufferAppend::from_pcm16(&samples).audio;
    RawJson::from(format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{b64}"}}"#
    ))
}

fn decode_resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_resample_100ms");
    let json = delta_json();
    for rate in [48_000u32, 44_100, 24_000] {
        let mut r = Resample::new(24_000, rate);
        let mut pcm = Vec::with_capacity(2400);
        let mut f = Vec::with_capacity(2400);
        let mut out = Vec::with_capacity(10_000);
        group.bench_function(format!("to_{rate}"), |b| {
            b.iter(|| {
                let ServerEvent::ResponseOutputAudioDelta(d) = ServerEvent::parse(json.clone())
                else {
                    panic!("not an audio delta")
                };
                pcm.clear();
                d.pcm16_into(&mut pcm).unwrap();
                f.clear();
                f.extend(pcm.iter().map(|&s| f32::from(s) / 32768.0));
                out.clear();
                r.push(&f, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, callback, decode_resample);
criterion_main!(benches);
