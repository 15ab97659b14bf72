//! How many concurrent Realtime sessions one simulator process serves with audio at
//! real-time pace, and the memory it takes.
//!
//! Run: `cargo bench --bench simulator_sessions`
//!
//! For each session count N (doubling), N clients in this process connect, each asks for
//! a response, and every `response.output_audio.delta` is timed against its schedule
//! (100 ms of audio every 100 ms from the first delta). N is served when the 99th
//! percentile lateness stays under 50 ms. Clients and server share the machine's cores,
//! so the figure is a lower bound for the simulator alone.

use std::time::{Duration, Instant};

use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::ResponseCreate;
use vivavoce::realtime::{ConnectOptions, ServerEvent, connect};

/// About 4 s of speech.
const REPLY: &str = "This is a benchmark reply that lasts for about four seconds of audio.";
const LATE_LIMIT: Duration = Duration::from_millis(50);

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Runs N sessions; returns (p99 lateness, max lateness, peak RSS in KiB).
async fn run(n: usize, options: ConnectOptions) -> (Duration, Duration, u64) {
    let mut clients = Vec::new();
    for _ in 0..n {
        let (tx, rx) = connect(options.clone().ping_interval(None))
            .await
            .expect("connect");
        clients.push((tx, rx));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (tx, mut rx) in clients {
        tasks.spawn(async move {
            tx.send(ResponseCreate::default()).await.unwrap();
            let mut first: Option<Instant> = None;
            let mut late = Vec::new();
            let mut i = 0u32;
            while let Some(ev) = rx.recv().await {
                match ev {
                    ServerEvent::ResponseOutputAudioDelta(_) => {
                        let now = Instant::now();
                        let start = *first.get_or_insert(now);
                        let due = start + Duration::from_millis(100) * i;
                        late.push(now.saturating_duration_since(due));
                        i += 1;
                    }
                    ServerEvent::ResponseDone(_) => break,
                    _ => {}
                }
            }
            drop(tx);
            late
        });
    }
    let mut peak = rss_kib();
    let mut all = Vec::new();
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(r) => all.extend(r.expect("client task")),
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => peak = peak.max(rss_kib()),
        }
    }
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    (p99, *all.last().unwrap(), peak)
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = RealtimeSimulator::start(SimulatorOptions::default().reply_text(REPLY)).await.unwrap();
        let base = rss_kib();
        println!("simulator_sessions: baseline RSS {base} KiB");
        let mut best = None;
        let mut n = if quick { 2 } else { 50 };
        loop {
            let started = Instant::now();
            let (p99, max, peak) = run(n, sim.connect_options()).await;
            let per = (peak.saturating_sub(base)) / n as u64;
            println!(
                "simulator_sessions/{n}: p99 late {:.1} ms, max {:.1} ms, peak RSS {peak} KiB ({per} KiB per session), {:.1} s",
                p99.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3,
                started.elapsed().as_secs_f64()
            );
            if p99 > LATE_LIMIT || quick {
                break;
            }
            best = Some((n, peak, per));
            n *= 2;
            if n > 6400 {
                break;
            }
        }
        match best {
            Some((n, peak, per)) => println!(
                "simulator_sessions: {n} concurrent real-time sessions served (p99 lateness < {} ms), peak RSS {} MiB, {per} KiB per session",
                LATE_LIMIT.as_millis(),
                peak / 1024
            ),
            None if quick => println!("simulator_sessions: quick run done"),
            None => println!("simulator_sessions: even the first step was late"),
        }
    });
}
