//! Mic-to-event latency on a real device: from the input callback that delivered an
//! append's last sample to the `input_audio_buffer.append` being queued on the session,
//! over the headless audio rig and the simulator.
//!
//! Run: `scripts/audio-rig.sh run cargo bench --bench capture_latency`

mod rig;

use std::time::Duration;

use vivavoce::audio::{CaptureOptions, PlaybackOptions, Processing, capture_audio, stream};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::connect;

async fn run(name: &str, interval: Duration, with_playback: bool, processing: Processing) {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let (_events, playback) = stream(rx, PlaybackOptions::new(tx.clone())).await.unwrap();
    let reference = if with_playback {
        playback.echo_reference()
    } else {
        None
    };
    let options = CaptureOptions::default()
        .interval(interval)
        .processing(processing)
        .reference(reference);
    let capture = capture_audio(tx.clone(), options).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    capture.stop().await.unwrap();
    let m = capture.metrics();
    println!(
        "{name}: mean {:.2} ms, max {:.2} ms over {} appends; processing {:.0} µs mean, {:.0} µs max per 10 ms frame; {} frames dropped, {} device overruns [{} Hz × {}]",
        rig::ms(m.latency_mean),
        rig::ms(m.latency_max),
        m.appends,
        m.processing_mean.as_secs_f64() * 1e6,
        m.processing_max.as_secs_f64() * 1e6,
        m.frames_dropped,
        m.device_overruns,
        capture.input().sample_rate,
        capture.input().channels,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    rig::require("capture_latency");
    let ms = Duration::from_millis;
    run(
        "mic-to-event, 20 ms interval, pass-through",
        ms(20),
        false,
        Processing::PassThrough,
    )
    .await;
    run(
        "mic-to-event, defaults (20 ms interval, sonora AEC with playback reference)",
        ms(20),
        true,
        Processing::Default(Default::default()),
    )
    .await;
    run(
        "mic-to-event, 10 ms interval, sonora AEC with playback reference",
        ms(10),
        true,
        Processing::Default(Default::default()),
    )
    .await;
}
