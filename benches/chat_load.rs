//! End to end against the Chat Completions simulator running in a child process (so its
//! CPU is not counted): CPU per chunk for one 20,000-chunk stream, and 10,000 concurrent
//! streams from one process (peak RSS per stream), on the default multi-threaded runtime.
//! The simulator writes through a 64 KiB buffer, as fast as the socket takes it, so the
//! client's own cost is what is measured, not its waiting for a slow writer; once with a
//! body that ends at the connection's close (hyper hands it over in reads of up to 8 KiB),
//! once HTTP/1.1 chunked with a chunk per event, as local model servers write (hyper hands
//! over each chunk from its connection task on its own).
//!
//! Run: `cargo bench --bench chat_load` (both), `… -- one` or `… -- concurrent` (one part).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use vivavoce::chat::{Backpressure, ChatEvent, ChatOptions, CompleteReason, start_request, stream};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

/// CPU time (user + system, all threads) of this process so far, to the nanosecond.
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Context switches (voluntary and not) of all this process's threads so far.
fn switches() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// A `kB` field of /proc/self/status (`VmHWM` = peak RSS, `VmRSS` = now).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn options(url: &str) -> ChatOptions {
    ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Hi"})],
    )
    .url(url)
    .api_key("sk-simulator")
    // The local server writes far faster than any network: the consumer paces the
    // reading (with Queue, a consumer slower than the producer overflows by design).
    .backpressure(Backpressure::Block)
}

/// One request through `start_request`; returns the chunks seen, the text's length, and
/// how it ended.
async fn one(url: &str, capacity: usize) -> (usize, usize, CompleteReason) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let _stop = start_request(options(url), tx).unwrap();
    let mut tally = Tally::default();
    loop {
        if let Some(end) = tally.see(rx.recv().await.unwrap()) {
            return end;
        }
    }
}

/// The same through the pull-based `stream`.
async fn one_pulled(url: &str) -> (usize, usize, CompleteReason) {
    let mut events = stream(options(url)).unwrap();
    let mut tally = Tally::default();
    while let Some(ev) = events.next().await {
        if let Some(end) = tally.see(ev) {
            return end;
        }
    }
    panic!("the stream ended without a terminal event")
}

/// What the consumer does: count the chunks and look at their text.
#[derive(Default)]
struct Tally {
    chunks: usize,
    text: usize,
}

impl Tally {
    /// Takes one event; at the terminal one, the chunks, the text's length and why.
    fn see(&mut self, event: ChatEvent) -> Option<(usize, usize, CompleteReason)> {
        match event {
            ChatEvent::Chunk(c) => {
                self.chunks += 1;
                self.text += c.text().map_or(0, str::len);
                None
            }
            ChatEvent::Complete(c) => Some((self.chunks, self.text, c.reason)),
            ChatEvent::Error(e) => panic!("{}", e.error),
            _ => None,
        }
    }
}

fn main() {
    if let Ok(chunks) = std::env::var("VIVAVOCE_CHAT_SERVER_CHUNKS") {
        // The child: serve until killed, printing the URL.
        let chunked = std::env::var_os("VIVAVOCE_CHAT_SERVER_CHUNKED").is_some();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let options = ChatSimulatorOptions::default()
                .chunk_count(chunks.parse().unwrap())
                .chunked(chunked);
            let sim = ChatSimulator::start(options).await.unwrap();
            println!("{}", sim.url());
            std::future::pending::<()>().await;
        });
        return;
    }
    let spawn = |chunks: &str, chunked: bool| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.env("VIVAVOCE_CHAT_SERVER_CHUNKS", chunks);
        if chunked {
            child.env("VIVAVOCE_CHAT_SERVER_CHUNKED", "1");
        }
        let mut child = child.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line.trim().to_owned())
    };
    let rt = tokio::runtime::Runtime::new().unwrap(); // the default multi-threaded runtime
    // `cargo bench` passes `--bench`; a bare word picks one part.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |part: &str| only.as_deref().is_none_or(|o| o == part);

    if wants("one") {
        one_stream(&rt, &spawn);
    }
    if wants("concurrent") {
        concurrent(&rt, &spawn);
    }
}

type Spawn<'a> = &'a dyn Fn(&str, bool) -> (std::process::Child, String);

fn one_stream(rt: &tokio::runtime::Runtime, spawn: Spawn<'_>) {
    for (framing, chunked) in [
        ("body to the connection's close", false),
        ("HTTP/1.1 chunked, a chunk per event", true),
    ] {
        println!("server framing: {framing}");
        one_framing(rt, spawn, chunked);
    }
}

fn one_framing(rt: &tokio::runtime::Runtime, spawn: Spawn<'_>, chunked: bool) {
    let (mut big, url) = spawn("20000", chunked);
    let runs = 9;
    let ways: [(&str, u8); 3] = [
        ("start_request, consumer on the main thread (block_on)", 0),
        ("start_request, consumer in a spawned task", 1),
        ("stream(), consumer in a spawned task", 2),
    ];
    rt.block_on(one(&url, 256)); // warm up (connection pool, allocator)
    for (name, way) in ways {
        let mut per_chunk = Vec::new();
        let mut switched = Vec::new();
        for _ in 0..runs {
            let (c0, s0) = (cpu(), switches());
            let u = url.clone();
            let (n, text, reason) = rt.block_on(async move {
                match way {
                    0 => one(&u, 256).await,
                    1 => tokio::spawn(async move { one(&u, 256).await })
                        .await
                        .unwrap(),
                    _ => tokio::spawn(async move { one_pulled(&u).await })
                        .await
                        .unwrap(),
                }
            });
            let cpu_used = cpu() - c0;
            assert_eq!((n, reason), (20_002, CompleteReason::Done));
            assert!(text > 0);
            per_chunk.push(cpu_used.as_secs_f64() * 1e6 / n as f64);
            switched.push((switches() - s0) as f64 / n as f64);
        }
        per_chunk.sort_by(f64::total_cmp);
        switched.sort_by(f64::total_cmp);
        println!(
            "  one 20,000-chunk stream, {name}: CPU per chunk median {:.2} µs (min {:.2}, max {:.2}; {runs} runs), {:.2} context switches per chunk",
            per_chunk[runs / 2],
            per_chunk[0],
            per_chunk[runs - 1],
            switched[runs / 2],
        );
    }
    let _ = big.kill();
}

fn concurrent(rt: &tokio::runtime::Runtime, spawn: Spawn<'_>) {
    let (mut small, url) = spawn("20", false);
    let concurrent = 10_000;
    rt.block_on(async {
        let base = status_kib("VmRSS:");
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..concurrent)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { one(&url, 8).await })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            let (_, _, reason) = t.await.unwrap();
            done += usize::from(reason == CompleteReason::Done);
        }
        let peak = status_kib("VmHWM:");
        println!(
            "{concurrent} concurrent streams: {done} completed in {:.2} s; peak RSS {} MiB, {:.1} KiB per stream above the {} MiB baseline",
            t0.elapsed().as_secs_f64(),
            peak / 1024,
            (peak - base) as f64 / concurrent as f64,
            base / 1024
        );
    });
    let _ = small.kill();
}
