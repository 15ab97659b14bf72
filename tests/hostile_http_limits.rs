//! Limits against hostile servers: an endless event, a huge error page, a server faster
//! than its reader, and nothing left behind (tasks, threads, connections). Each test
//! holds one lock, so that memory and thread counts measured in one are not another's.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;
mod hostile_http_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chat_support::run_options;
use hostile_http_support::{After, Hostile, answer, assert_no_key, chunk, hostile, send, sse_head};
use tokio::sync::mpsc;
use vivavoce::chat::{Backpressure, ChatEvent, CompleteReason, start_request};
use vivavoce::{Error, ErrorKind};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MB: usize = 1 << 20;

/// This process's resident memory, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Samples resident memory every few ms until dropped; `peak_growth` is the most it
/// rose above where it started.
struct RssWatch {
    base: usize,
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RssWatch {
    fn start() -> Self {
        let (base, peak, stop) = (
            rss(),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_max(rss(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        RssWatch { base, peak, stop }
    }

    fn peak_growth(&self) -> usize {
        self.peak.load(Ordering::SeqCst).saturating_sub(self.base)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A server sending `prefix`, then `total` bytes of `fill` in 64 KiB writes (never more
/// than 64 KiB in its memory); counts what it could write.
async fn flood(prefix: String, fill: u8, total: usize, written: Arc<AtomicUsize>) -> Hostile {
    hostile(move |mut s| {
        let (prefix, written) = (prefix.clone(), written.clone());
        async move {
            if !send(&mut s, prefix).await {
                return After::PeerGone;
            }
            let block = vec![fill; 64 << 10];
            let mut left = total;
            while left > 0 {
                let n = left.min(block.len());
                if !send(&mut s, &block[..n]).await {
                    return After::PeerGone;
                }
                written.fetch_add(n, Ordering::SeqCst);
                left -= n;
            }
            After::AwaitClose(s)
        }
    })
    .await
}

#[tokio::test]
async fn a_50_mb_event_is_refused_at_the_cap_in_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().await;
    let written = Arc::new(AtomicUsize::new(0));
    let h = flood(sse_head() + "data: ", b'a', 50 * MB, written.clone()).await;
    let watch = RssWatch::start();
    let r = run_options(h.options().max_event_bytes(MB), 8).await;
    let growth = watch.peak_growth();
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(
        e.error.to_string().contains("larger than 1048576 bytes"),
        "{}",
        e.error
    );
    assert!(growth < 16 * MB, "memory grew by {} MB", growth / MB);
    assert!(h.closed_by_client(1).await, "the connection is dropped");
    assert!(
        written.load(Ordering::SeqCst) < 50 * MB,
        "refused before the end"
    );
}

#[tokio::test]
async fn huge_error_pages_and_whole_answers_are_read_only_up_to_a_cap() {
    let _one = ONE_AT_A_TIME.lock().await;
    // A 500 whose page never ends: its start is kept, the rest not read.
    let written = Arc::new(AtomicUsize::new(0));
    let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n";
    let h = flood(head.to_owned(), b'x', 50 * MB, written.clone()).await;
    let watch = RssWatch::start();
    let r = run_options(h.options(), 8).await;
    assert!(
        watch.peak_growth() < 16 * MB,
        "memory grew by {} MB",
        watch.peak_growth() / MB
    );
    let e = r.failed();
    assert_eq!(
        (e.error.status(), e.error.kind()),
        (Some(500), ErrorKind::Server)
    );
    assert_eq!(e.error.http().unwrap().body.len(), 64 << 10);
    assert!(h.closed_by_client(1).await, "the connection is dropped");
    // A whole (non-streamed) answer larger than `max_event_bytes`.
    let json = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
    let h = flood(
        json.to_owned() + "{\"id\":\"",
        b'x',
        50 * MB,
        Arc::default(),
    )
    .await;
    let watch = RssWatch::start();
    let r = run_options(h.options().stream(false).max_event_bytes(MB), 8).await;
    assert!(
        watch.peak_growth() < 16 * MB,
        "memory grew by {} MB",
        watch.peak_growth() / MB
    );
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(
        e.error.to_string().contains("max_event_bytes"),
        "{}",
        e.error
    );
}

/// A server writing chunks of 100 characters as fast as the client takes them, forever;
/// counts the bytes written.
async fn firehose(written: Arc<AtomicUsize>) -> Hostile {
    hostile(move |mut s| {
        let written = written.clone();
        async move {
            if !send(&mut s, sse_head()).await {
                return After::PeerGone;
            }
            let burst = chunk(&"y".repeat(100)).repeat(64);
            loop {
                if !send(&mut s, &burst).await {
                    return After::PeerGone;
                }
                written.fetch_add(burst.len(), Ordering::SeqCst);
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_reader_too_slow_for_the_queue_gets_consumer_too_slow() {
    let _one = ONE_AT_A_TIME.lock().await;
    let h = firehose(Arc::default()).await;
    let (tx, mut rx) = mpsc::channel(1);
    let options = h
        .options()
        .backpressure(Backpressure::Queue { capacity: 64 });
    let _stop = start_request(options, tx).unwrap();
    // Not reading for a while: 1 in the channel and 64 queued, then the request ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut delivered = 0;
    let end = loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match ev {
            ChatEvent::Chunk(_) => delivered += 1,
            end => break end,
        }
    };
    assert_no_key(&end);
    let ChatEvent::Error(e) = &end else {
        panic!("expected an error, got {end:?}")
    };
    assert!(
        matches!(e.error, Error::ConsumerTooSlow { queued: 64 }),
        "{}",
        e.error
    );
    assert_eq!(
        delivered, 65,
        "the channel's one and the queue's 64, in order"
    );
    assert!(
        e.partial.content.len() >= 65 * 100,
        "what was received is kept"
    );
    assert!(h.closed_by_client(1).await, "the connection is dropped");
}

#[tokio::test]
async fn a_blocked_reader_holds_the_server_back_in_flat_memory() {
    let _one = ONE_AT_A_TIME.lock().await;
    let written = Arc::new(AtomicUsize::new(0));
    let h = firehose(written.clone()).await;
    let (tx, mut rx) = mpsc::channel(4);
    let _stop = start_request(h.options().backpressure(Backpressure::Block), tx).unwrap();
    let next = async |rx: &mut mpsc::Receiver<ChatEvent>| {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap();
        assert!(matches!(ev, Some(ChatEvent::Chunk(_))), "{ev:?}");
    };
    for _ in 0..10 {
        next(&mut rx).await;
    }
    // The reader stops: the engine waits, then the sockets' buffers fill, then the server.
    let watch = RssWatch::start();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let held = written.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = written.load(Ordering::SeqCst);
    assert_eq!(later, held, "the server is held back");
    assert!(held < 32 * MB, "{} MB in flight", held / MB);
    assert!(
        watch.peak_growth() < 16 * MB,
        "memory grew by {} MB",
        watch.peak_growth() / MB
    );
    // Reading again lets it go on; dropping the receiver ends the request.
    let goes_on = async {
        while written.load(Ordering::SeqCst) == held {
            next(&mut rx).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), goes_on)
        .await
        .expect("the server goes on once read");
    drop(rx);
    assert!(h.closed_by_client(1).await, "the connection is dropped");
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[tokio::test]
async fn nothing_is_left_behind_after_hostile_requests_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let (tasks, threads_before) = (metrics.num_alive_tasks(), threads());
    for round in 0..3 {
        // Stopped while the head never ends.
        let h = hostile(|mut s| async move {
            send(&mut s, "HTTP/1.1 200 OK\r\n").await;
            After::AwaitClose(s)
        })
        .await;
        let (tx, mut rx) = mpsc::channel(8);
        let stop = start_request(h.options(), tx).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.stop();
        let end = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap();
        assert!(matches!(end, Some(ChatEvent::Complete(c)) if c.reason == CompleteReason::Stopped));
        assert!(h.closed_by_client(1).await, "round {round}: stopped");
        // The receiver dropped mid-stream.
        let h = firehose(Arc::default()).await;
        let (tx, mut rx) = mpsc::channel(8);
        let _stop = start_request(h.options(), tx).unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap();
        assert!(matches!(first, Some(ChatEvent::Chunk(_))));
        drop(rx);
        assert!(h.closed_by_client(1).await, "round {round}: dropped");
        // A page and a reset.
        let h = hostile(|mut s| async move {
            send(
                &mut s,
                answer(
                    "503 Service Unavailable",
                    &["content-type: text/html"],
                    "<p>busy</p>",
                ),
            )
            .await;
            After::Closed
        })
        .await;
        let r = run_options(h.options(), 8).await;
        assert!(matches!(&r.end, ChatEvent::Error(e) if e.error.status() == Some(503)));
    }
    // Every task of the requests and the servers ends (the servers' ones once dropped).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.num_alive_tasks() > tasks && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), tasks, "tasks left behind");
    assert!(
        threads() <= threads_before + 1,
        "threads: {} then {}",
        threads_before,
        threads()
    );
}
