//! Many concurrent Realtime sessions from one client process against a simulator in
//! another: each session asks for a reply of about 60 s of speech, which the simulator
//! sends at real-time pace (100 ms of audio every 100 ms), and the client decodes every
//! audio delta to PCM as a player would.
//!
//! Run: `cargo bench --bench realtime_load` (1,000 sessions of 60 s); `SESSIONS=N` and
//! `SECONDS=S` change the load.
//!
//! Reported: sessions that completed (every delta, then `response.done`); the client's
//! peak RSS over its baseline per session, and its CPU per session-second and per event;
//! the simulator's peak RSS per session and CPU; and how late deltas arrived against
//! their schedule (p50/p99/max). The simulator runs as a second process of this binary,
//! so each side's memory and CPU are its own; both share the machine's cores.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::ResponseCreate;
use vivavoce::realtime::{ConnectOptions, ServerEvent, connect};

/// Set in the simulator process.
const SIM_ROLE: &str = "VIVAVOCE_LOAD_SIMULATOR";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`.
fn cpu(pid: &str) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    // Linux reports these in USER_HZ, 100 a second on every platform it runs on.
    Duration::from_millis(ticks * 10)
}

/// Speech of about `seconds` (the simulator speaks about 65 ms a character).
fn reply(seconds: u64) -> String {
    let words = [
        "a", "long", "reply", "spoken", "at", "real", "time", "pace,",
    ];
    let chars = (seconds * 1000 / 65) as usize;
    let mut text = String::new();
    let mut i = 0;
    while text.len() < chars {
        text.push_str(words[i % words.len()]);
        text.push(' ');
        i += 1;
    }
    text.trim_end().to_owned()
}

/// The simulator process: serves until its stdin closes.
fn simulator(seconds: u64) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let options = SimulatorOptions::default()
            .reply_text(reply(seconds))
            .pace(Pace::RealTime);
        let sim = RealtimeSimulator::start(options).await.expect("simulator");
        println!("{}", sim.base_url());
        std::io::stdout().flush().expect("stdout");
        // Blocks this thread only; the simulator runs on the runtime's workers.
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    });
}

/// What one session saw.
struct Seen {
    deltas: u32,
    late: Vec<Duration>,
    done: bool,
}

async fn session(options: ConnectOptions) -> Seen {
    let mut seen = Seen {
        deltas: 0,
        late: Vec::new(),
        done: false,
    };
    let Ok((tx, mut rx)) = connect(options).await else {
        return seen;
    };
    if tx.send(ResponseCreate::default()).await.is_err() {
        return seen;
    }
    let mut first: Option<Instant> = None;
    let mut pcm = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            ServerEvent::ResponseOutputAudioDelta(d) => {
                let now = Instant::now();
                let start = *first.get_or_insert(now);
                let due = start + Duration::from_millis(100) * seen.deltas;
                seen.late.push(now.saturating_duration_since(due));
                seen.deltas += 1;
                pcm.clear();
                if d.pcm16_into(&mut pcm).is_err() {
                    return seen;
                }
            }
            ServerEvent::ResponseDone(_) => {
                seen.done = true;
                break;
            }
            ServerEvent::Disconnected(_) => break,
            _ => {}
        }
    }
    let _ = tx.close().await;
    seen
}

fn spawn_simulator(seconds: u64) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(SIM_ROLE, seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process");
    let mut url = String::new();
    let stdout = child.stdout.take().expect("its stdout");
    BufReader::new(stdout).read_line(&mut url).expect("its URL");
    (child, url.trim().to_owned())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if let Ok(seconds) = std::env::var(SIM_ROLE) {
        return simulator(seconds.parse().unwrap_or(60));
    }
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sessions = env_or("SESSIONS", if quick { 4 } else { 1000 });
    let seconds = env_or("SECONDS", if quick { 2 } else { 60 });
    let (mut sim, url) = spawn_simulator(seconds);
    let sim_pid = sim.id().to_string();

    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let me = std::process::id().to_string();
    let base_rss = status_kib(&me, "VmRSS:");
    let sim_base = status_kib(&sim_pid, "VmRSS:");
    let (cpu0, sim_cpu0) = (cpu(&me), cpu(&sim_pid));
    let started = Instant::now();
    let seen: Vec<Seen> = rt.block_on(async {
        let options = ConnectOptions::default()
            .base_url(url)
            .api_key("sk-simulator");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..sessions {
            tasks.spawn(session(options.clone()));
        }
        tasks.join_all().await
    });
    let wall = started.elapsed();
    let (client_cpu, sim_cpu) = (cpu(&me) - cpu0, cpu(&sim_pid) - sim_cpu0);
    let peak = status_kib(&me, "VmHWM:");
    let sim_peak = status_kib(&sim_pid, "VmHWM:");
    drop(sim.stdin.take());
    let _ = sim.wait();

    let completed = seen.iter().filter(|s| s.done).count();
    let deltas: u64 = seen.iter().map(|s| u64::from(s.deltas)).sum();
    let mut late: Vec<Duration> = seen.iter().flat_map(|s| s.late.iter().copied()).collect();
    late.sort();
    let session_seconds = sessions as f64 * seconds as f64;
    println!(
        "realtime_load: {completed}/{sessions} sessions completed, {deltas} audio deltas, {:.1} s wall",
        wall.as_secs_f64()
    );
    println!(
        "realtime_load: client peak RSS {} MiB, {} KiB per session over its {} MiB baseline",
        peak / 1024,
        peak.saturating_sub(base_rss) / sessions.max(1),
        base_rss / 1024
    );
    println!(
        "realtime_load: client CPU {:.2} s ({:.2} ms per session-second, {:.1} µs per audio delta)",
        client_cpu.as_secs_f64(),
        client_cpu.as_secs_f64() * 1e3 / session_seconds,
        client_cpu.as_secs_f64() * 1e6 / deltas.max(1) as f64
    );
    println!(
        "realtime_load: simulator peak RSS {} MiB ({} KiB per session), CPU {:.2} s",
        sim_peak / 1024,
        sim_peak.saturating_sub(sim_base) / sessions.max(1),
        sim_cpu.as_secs_f64()
    );
    println!(
        "realtime_load: delta lateness p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&late, 50)),
        ms(percentile(&late, 99)),
        ms(late.last().copied().unwrap_or_default())
    );
    assert_eq!(completed as u64, sessions, "every session completes");
}
