//! Capture costs: the audio processor per 10 ms frame at 24 kHz (render + capture), and
//! down-mix + resampling of device audio to 24 kHz mono.
//!
//! Run: `cargo bench --bench capture` (add `--features aec-webrtc` for the C++ backend).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vivavoce::audio::bench::Resample;
use vivavoce::audio::{AudioProcessor, FRAME, PassThrough, ProcessingOptions, SonoraProcessor};
use vivavoce::mock::voice::synthesize;

/// 10 s of far-end speech and the microphone hearing its echo 40 ms later at −6 dB.
fn signals() -> (Vec<f32>, Vec<f32>) {
    let far: Vec<f32> =
        synthesize("a reply long enough to keep the echo canceller busy for ten seconds or so")
            .iter()
            .map(|&s| f32::from(s) / 16384.0)
            .collect();
    let delay = 960;
    let mic = (0..far.len())
        .map(|i| {
            if i >= delay {
                far[i - delay] * 0.5
            } else {
                0.0
            }
        })
        .collect();
    (far, mic)
}

fn processors(c: &mut Criterion) {
    let (far, mic) = signals();
    let frames = far.len() / FRAME;
    let mut group = c.benchmark_group("process_10ms_24k");
    group.throughput(Throughput::Elements(FRAME as u64));
    let all = ProcessingOptions::default()
        .noise_suppression(true)
        .gain_control(true);
    let mut backends: Vec<(&str, Box<dyn AudioProcessor>)> = vec![
        (
            "sonora_aec_hpf",
            Box::new(SonoraProcessor::new(ProcessingOptions::default())),
        ),
        ("sonora_aec_ns_agc_hpf", Box::new(SonoraProcessor::new(all))),
        ("pass_through", Box::new(PassThrough)),
    ];
    #[cfg(feature = "aec-webrtc")]
    {
        use vivavoce::audio::WebRtcProcessor;
        backends.push((
            "webrtc_aec_hpf",
            Box::new(WebRtcProcessor::new(ProcessingOptions::default()).unwrap()),
        ));
        backends.push((
            "webrtc_aec_ns_agc_hpf",
            Box::new(WebRtcProcessor::new(all).unwrap()),
        ));
    }
    for (name, mut p) in backends.drain(..) {
        let mut f = 0;
        let mut buf = [0.0f32; FRAME];
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = (f % frames) * FRAME..(f % frames + 1) * FRAME;
                p.render(&far[r.clone()]).unwrap();
                buf.copy_from_slice(&mic[r]);
                p.capture(black_box(&mut buf)).unwrap();
                f += 1;
            })
        });
    }
    group.finish();
}

fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("capture_resample_10ms");
    for (rate, channels) in [(48_000u32, 2usize), (44_100, 2), (48_000, 1)] {
        let n = rate as usize / 100;
        group.throughput(Throughput::Elements(n as u64));
        let input: Vec<f32> = (0..n * channels)
            .map(|i| ((i % 97) as f32 / 97.0) - 0.5)
            .collect();
        let mut r = Resample::capture(rate, 24_000);
        let mut mono = Vec::with_capacity(n);
        let mut out = Vec::with_capacity(FRAME * 2);
        group.bench_function(format!("{rate}x{channels}_to_24k_mono"), |b| {
            b.iter(|| {
                mono.clear();
                mono.extend(
                    input
                        .chunks_exact(channels)
                        .map(|f| f.iter().sum::<f32>() / channels as f32),
                );
                out.clear();
                r.push(&mono, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, processors, resample);
criterion_main!(benches);
