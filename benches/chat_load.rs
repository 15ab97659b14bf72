//! End to end against the Chat Completions simulator running in a child process (so its
//! CPU is not counted): CPU per chunk for one 20,000-chunk stream, and 10,000 concurrent
//! streams from one process (peak RSS per stream), on the default multi-threaded runtime.
//!
//! Run: `cargo bench --bench chat_load`

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use vivavoce::chat::{ChatEvent, ChatOptions, CompleteReason, start_request};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

/// utime + stime of this process, from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10) // USER_HZ = 100
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

async fn one(url: &str, capacity: usize) -> (usize, CompleteReason) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let opts = ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Hi"})],
    )
    .url(url)
    .api_key("sk-simulator")
    .stream(true)
    // The local server writes far faster than any network: the consumer paces the
    // reading (with Queue, a consumer slower than the producer overflows by design).
    .backpressure(vivavoce::chat::Backpressure::Block);
    let _stop = start_request(opts, tx).unwrap();
    let mut n = 0;
    loop {
        match rx.recv().await.unwrap() {
            ChatEvent::Chunk(_) => n += 1,
            ChatEvent::Complete(c) => return (n, c.reason),
            ChatEvent::Error(e) => panic!("{}", e.error),
            _ => {}
        }
    }
}

fn main() {
    if let Ok(chunks) = std::env::var("VIVAVOCE_CHAT_SERVER_CHUNKS") {
        // The child: serve until killed, printing the URL.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let options = ChatSimulatorOptions::default().chunk_count(chunks.parse().unwrap());
            let sim = ChatSimulator::start(options).await.unwrap();
            println!("{}", sim.url());
            std::future::pending::<()>().await;
        });
        return;
    }
    let spawn = |chunks: &str| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env("VIVAVOCE_CHAT_SERVER_CHUNKS", chunks)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line.trim().to_owned())
    };
    let rt = tokio::runtime::Runtime::new().unwrap(); // the default multi-threaded runtime

    let (mut big, url) = spawn("20000");
    rt.block_on(async {
        one(&url, 256).await; // warm up (connection, allocator)
        for _ in 0..3 {
            let (c0, t0) = (cpu(), Instant::now());
            let (n, reason) = one(&url, 256).await;
            let (cpu_used, wall) = (cpu() - c0, t0.elapsed());
            assert_eq!(reason, CompleteReason::Done);
            println!(
                "one stream: {n} chunks, {:.2} µs CPU per chunk, {:.2} µs wall per chunk",
                cpu_used.as_secs_f64() * 1e6 / n as f64,
                wall.as_secs_f64() * 1e6 / n as f64
            );
        }
    });
    let _ = big.kill();

    let (mut small, url) = spawn("20");
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
            let (_, reason) = t.await.unwrap();
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
