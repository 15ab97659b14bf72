//! The WebRTC transport's costs: Opus and G.711 per 20 ms packet (criterion; Opus is
//! libopus with `--features webrtc-libopus`), and a voice turn
//! through the simulator over WebRTC against the same turn over the WebSocket.
//!
//! Run: `cargo bench --bench webrtc` (`TURNS=N` turns per transport, default 5).
//!
//! A turn: the client appends 1 s of a tone and 0.7 s of silence in real time (20 ms at
//! a time, as capture does), the simulator's VAD ends the turn after 500 ms of silence and
//! replies with about 2 s of speech. Reported per transport: the time from the end of the
//! tone to the first reply audio the client receives (the VAD's 500 ms included), and the
//! client's CPU per second of call. The simulator runs as a second process of this
//! binary, so the CPU is the client's own.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::InputAudioBufferAppend;
use vivavoce::realtime::webrtc::g711::{G711Decoder, G711Encoder, Law};
use vivavoce::realtime::webrtc::opus::{Decoder, Encoder, FRAME};
use vivavoce::realtime::{ConnectOptions, EventReceiver, EventSender, ServerEvent, connect};

/// Set in the simulator process.
const SIM_ROLE: &str = "VIVAVOCE_WEBRTC_BENCH_SIMULATOR";

fn codec(c: &mut Criterion) {
    let speech = vivavoce::mock::voice::synthesize("Opus per packet");
    let frame = &speech[FRAME * 10..FRAME * 11];
    let mut group = c.benchmark_group("opus");
    let mut encoder = Encoder::new().unwrap();
    let mut packet = Vec::new();
    group.bench_function("encode_20ms_24k_mono", |b| {
        b.iter(|| {
            encoder
                .push(std::hint::black_box(frame), |p| {
                    packet.clear();
                    packet.extend_from_slice(p);
                })
                .unwrap();
        })
    });
    let mut decoder = Decoder::new().unwrap();
    group.bench_function("decode_20ms_24k_mono", |b| {
        b.iter(|| decoder.decode(std::hint::black_box(&packet)).unwrap().len())
    });
    group.finish();

    // G.711 goes through 8 kHz: the filters, not the law, are most of its cost.
    let mut group = c.benchmark_group("g711");
    let mut encoder = G711Encoder::new(Law::Mu);
    group.bench_function("encode_20ms_24k_mono", |b| {
        b.iter(|| {
            encoder.push(std::hint::black_box(frame), |p| {
                packet.clear();
                packet.extend_from_slice(p);
            })
        })
    });
    let mut decoder = G711Decoder::new();
    group.bench_function("decode_20ms_24k_mono", |b| {
        b.iter(|| decoder.decode(Law::Mu, std::hint::black_box(&packet)).len())
    });
    group.finish();
}

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn simulator() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let options = SimulatorOptions::default()
            .reply_text("A reply of about two seconds of speech.")
            .pace(Pace::RealTime);
        let sim = RealtimeSimulator::start(options).await.expect("simulator");
        println!("{}", sim.addr());
        std::io::stdout().flush().expect("stdout");
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    });
}

/// One turn: the tone, the silence, then the reply until its audio ends. Returns the
/// time from the tone's end to the first reply audio.
async fn turn(tx: &EventSender, rx: &mut EventReceiver, end_event: &str) -> Duration {
    let tx = tx.clone();
    // Sent in real time beside the reading, as capture does.
    let speaker = tokio::spawn(async move {
        let tone: Vec<i16> = (0..24_000)
            .map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16)
            .collect();
        let silence = vec![0i16; 700 * 24];
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut tone_end = Instant::now();
        for (i, chunk) in tone.chunks(FRAME).chain(silence.chunks(FRAME)).enumerate() {
            tick.tick().await;
            tx.send(InputAudioBufferAppend::from_pcm16(chunk))
                .await
                .unwrap();
            if i + 1 == tone.len() / FRAME {
                tone_end = Instant::now();
            }
        }
        tone_end
    });
    let mut first = None;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event within 20 s")
            .expect("the session goes on");
        if matches!(event, ServerEvent::ResponseOutputAudioDelta(_)) && first.is_none() {
            first = Some(Instant::now());
        }
        if event.event_type() == end_event {
            let tone_end = speaker.await.expect("the speaker");
            return first
                .expect("reply audio")
                .saturating_duration_since(tone_end);
        }
    }
}

fn report(name: &str, latencies: &mut [Duration], cpu: Duration, wall: Duration) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "webrtc bench: {name:9} tone end → first reply audio: median {:.1} ms, min {:.1}, max {:.1} ({} turns); client CPU {:.2} ms per second of call",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[0]),
        ms(latencies[latencies.len() - 1]),
        latencies.len(),
        ms(cpu) / wall.as_secs_f64()
    );
}

fn calls(turns: usize) {
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(SIM_ROLE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process");
    let mut addr = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut addr)
        .expect("its address");
    let addr = addr.trim().to_owned();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        // Over the WebSocket: the reply ends with response.done.
        let options = ConnectOptions::default()
            .base_url(format!("ws://{addr}/v1/realtime"))
            .api_key("sk-simulator");
        let (tx, mut rx) = connect(options).await.expect("a session");
        assert_eq!(rx.recv().await.unwrap().event_type(), "session.created");
        let (cpu0, t0) = (cpu(), Instant::now());
        let mut lat = Vec::new();
        for _ in 0..turns {
            lat.push(turn(&tx, &mut rx, "response.done").await);
        }
        report("websocket", &mut lat, cpu() - cpu0, t0.elapsed());
        drop((tx, rx));

        // Over WebRTC: the reply's audio ends with output_audio_buffer.stopped.
        let options = vivavoce::realtime::webrtc::CallOptions::default()
            .base_url(format!("http://{addr}/v1"))
            .api_key("sk-simulator");
        let (tx, mut rx, _call) = vivavoce::realtime::webrtc::connect(options)
            .await
            .expect("a call");
        assert_eq!(rx.recv().await.unwrap().event_type(), "session.created");
        let (cpu0, t0) = (cpu(), Instant::now());
        let mut lat = Vec::new();
        for _ in 0..turns {
            lat.push(turn(&tx, &mut rx, "output_audio_buffer.stopped").await);
        }
        report("webrtc", &mut lat, cpu() - cpu0, t0.elapsed());
    });
    drop(child.stdin.take());
    let _ = child.wait();
}

fn main() {
    if std::env::var(SIM_ROLE).is_ok() {
        return simulator();
    }
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    if !quick {
        codec(&mut c);
    }
    c.final_summary();
    let turns = std::env::var("TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    calls(turns);
}
