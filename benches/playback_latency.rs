//! Added latency on a real device: from a `response.output_audio.delta` arriving to the
//! first of its samples leaving the device callback, over the simulator and the headless
//! audio rig. The start is held for the resampler's delay plus one device period and 1 ms
//! (plus `prebuffer` and any cushion), then waits for the next callback: expect the delay
//! plus one to two periods. Each line also gives the underruns (callbacks that found the
//! ring empty mid-item, and those the device reported itself) and the cushion playback
//! grew after them; run it with a core kept busy (`yes > /dev/null &`) to see how the
//! settings hold up under load.
//!
//! Run: `scripts/audio-rig.sh run cargo bench --bench playback_latency`

mod rig;

use std::time::Duration;

use vivavoce::audio::{PlaybackOptions, stream};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{Item, ServerEvent, connect};

async fn measure(
    prebuffer: Option<Duration>,
    rate: Option<u32>,
    frames: Option<u32>,
    runs: usize,
) -> (Vec<Duration>, String) {
    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .reply_text("Hi there.")
            .pace(Pace::RealTime),
    )
    .await
    .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let mut options = PlaybackOptions::new(tx.clone());
    if let Some(p) = prebuffer {
        options = options.prebuffer(p);
    }
    if let Some(r) = rate {
        options = options.sample_rate(r);
    }
    if let Some(n) = frames {
        options = options.buffer_frames(n);
    }
    let (mut events, playback) = stream(rx, options).await.unwrap();
    let mut out = Vec::new();
    for _ in 0..runs {
        tx.send(ConversationItemCreate::new(Item::user_text("Hello.")))
            .await
            .unwrap();
        tx.send(ResponseCreate::default()).await.unwrap();
        while !matches!(events.recv().await, Some(ServerEvent::ResponseDone(_))) {}
        playback.drain().await.unwrap();
        // Measured inside: the delta's arrival at the stream task, and the start of the
        // device callback that played its first sample.
        out.push(playback.metrics().start_latency.expect("timed"));
    }
    let m = playback.metrics();
    let info = format!(
        "{} Hz, period {} frames ({:.1} ms), resampler delay {:.1} ms; underruns {}, device underruns {}, cushion {} ms",
        playback.output().sample_rate,
        m.period_frames,
        f64::from(m.period_frames) * 1000.0 / f64::from(playback.output().sample_rate),
        rig::ms(m.resampler_delay),
        m.underruns,
        m.device_underruns,
        m.cushion.as_millis()
    );
    (out, info)
}

fn report(name: &str, mut v: Vec<Duration>, info: &str) {
    v.sort();
    let ms = rig::ms;
    println!(
        "{name}: median {:.2} ms, p90 {:.2} ms, max {:.2} ms over {} responses [{info}]",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    rig::require("playback_latency");
    let runs = 30;
    let ms = Duration::from_millis;
    let (v, info) = measure(None, None, None, runs).await;
    report("latency, defaults", v, &info);
    let (v, info) = measure(None, Some(44_100), None, runs).await;
    report("latency, defaults, 44.1 kHz", v, &info);
    let (v, info) = measure(Some(Duration::ZERO), None, None, runs).await;
    report("latency, prebuffer 0", v, &info);
    let (v, info) = measure(Some(ms(20)), None, None, runs).await;
    report("latency, prebuffer 20 ms", v, &info);
    // Twice the default period, as the fallback after device underruns opens it: about
    // 5 ms later.
    let (v, info) = measure(None, None, Some(480), runs).await;
    report("latency, 10 ms period", v, &info);
}
