//! A long voice session through the headless audio rig with the default playback
//! options: turn after turn of spoken replies at real-time pace from the simulator,
//! played on the rig's speaker, for 10 minutes (`MINUTES=N` to change).
//!
//! Reported: underruns (callbacks that ran dry mid-item, and those the device itself
//! reported) over the whole session and per minute, and the playback start latency of
//! each reply (a delta arriving to the callback that played its first sample) in the
//! first and the last minute, to show it does not drift; plus the longest callback.
//!
//! Run: `scripts/audio-rig.sh run cargo bench --bench playback_soak`; with
//! `RUST_LOG=vivavoce=debug`, each underrun, near miss and period change is logged with
//! its time, to place it in the session.

mod rig;

use std::time::{Duration, Instant};

use rig::ms;
use vivavoce::audio::{PlaybackOptions, stream};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{Item, ServerEvent, connect};

/// About 8 s of speech a reply.
const REPLY: &str =
    "Here is a reply of a few sentences, long enough to keep the speaker busy for a while.";

/// One reply: when it started (from the session's start), its start latency, and the
/// underrun counters after it.
struct Turn {
    at: Duration,
    latency: Duration,
    underruns: u64,
    device_underruns: u64,
}

fn summary(name: &str, turns: &[&Turn]) {
    let mut v: Vec<Duration> = turns.iter().map(|t| t.latency).collect();
    v.sort();
    if v.is_empty() {
        return println!("{name}: no replies");
    }
    println!(
        "{name}: start latency median {:.2} ms, p90 {:.2} ms, max {:.2} ms over {} replies",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    rig::require("playback_soak");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let minutes: u64 = std::env::var("MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(if quick { 0 } else { 10 });
    let length = Duration::from_secs(minutes * 60).max(Duration::from_secs(5));

    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .reply_text(REPLY)
            .pace(Pace::RealTime),
    )
    .await
    .expect("simulator");
    let (tx, rx) = connect(sim.connect_options()).await.expect("connect");
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()))
        .await
        .expect("playback on the rig's speaker");
    let start = Instant::now();
    let mut turns = Vec::new();
    while start.elapsed() < length {
        // A pause of 0–25 ms before each request, as a person's would vary: otherwise each
        // reply starts a fixed time after the last drain, which resolves in a callback, and
        // every reply meets the device's callbacks at nearly the same phase, so a minute's
        // latencies show that phase rather than how they are spread.
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..25_000))).await;
        tx.send(ConversationItemCreate::new(Item::user_text("Go on.")))
            .await
            .expect("send");
        tx.send(ResponseCreate::default()).await.expect("send");
        let at = start.elapsed();
        loop {
            match events.recv().await {
                Some(ServerEvent::ResponseDone(_)) => break,
                Some(ServerEvent::Disconnected(d)) => panic!("session lost: {:?}", d.error),
                Some(_) => {}
                None => panic!("session ended"),
            }
        }
        playback.drain().await.expect("drain");
        let m = playback.metrics();
        turns.push(Turn {
            at,
            latency: m.start_latency.expect("a start latency for each reply"),
            underruns: m.underruns,
            device_underruns: m.device_underruns,
        });
    }
    let m = playback.metrics();
    let elapsed = start.elapsed();
    println!(
        "playback_soak: {:.1} min, {} replies, {:.1} s played, {} underruns, {} device underruns, longest callback {:.2} ms, period {} frames, cushion {:.0} ms",
        elapsed.as_secs_f64() / 60.0,
        turns.len(),
        m.played.as_secs_f64(),
        m.underruns,
        m.device_underruns,
        ms(m.max_callback),
        m.period_frames,
        ms(m.cushion)
    );
    let mut before = (0, 0);
    for minute in 0..elapsed.as_secs().div_ceil(60) {
        let in_minute: Vec<&Turn> = turns
            .iter()
            .filter(|t| t.at.as_secs() / 60 == minute)
            .collect();
        if let Some(last) = in_minute.last() {
            println!(
                "playback_soak: minute {}: {} replies, {} underruns, {} device underruns",
                minute + 1,
                in_minute.len(),
                last.underruns - before.0,
                last.device_underruns - before.1
            );
            before = (last.underruns, last.device_underruns);
        }
    }
    let first: Vec<&Turn> = turns.iter().filter(|t| t.at.as_secs() < 60).collect();
    let last_start = elapsed.saturating_sub(Duration::from_secs(60));
    let last: Vec<&Turn> = turns.iter().filter(|t| t.at >= last_start).collect();
    summary("playback_soak: first minute", &first);
    summary("playback_soak: last minute", &last);
    playback.stop().await;
}
