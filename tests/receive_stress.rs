//! Every event a server sends arrives once and in order, under stress: a server on
//! 127.0.0.1 writes thousands of numbered events of mixed sizes as fast as it can, while
//! the consumers are slow, give up waiting now and then (a `recv` dropped in `select!`),
//! read through the `Stream` interface, or do not read at all for a while, on a
//! multi-thread runtime whose threads also have other work.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::{Conn, Server, connected, options};
use tokio_tungstenite::tungstenite::Message;
use vivavoce::realtime::events::{InputAudioBufferAppend, ResponseCreate};
use vivavoce::realtime::{EventReceiver, ServerEvent};

/// Events per connection after `response.create`, then `response.done`.
const N: usize = 3_000;

/// Samples in audio delta `k`: from a few to 2 s of audio, so frames range from tens of
/// bytes to 128 KB.
fn samples(k: usize) -> usize {
    match k % 11 {
        0 => 3,
        1 | 5 => 2_400,
        3 => 4_800,
        7 => 240,
        9 if k.is_multiple_of(3) => 48_000,
        _ => 0,
    }
}

/// Event `k` as the server sends it: mostly audio deltas, also transcript deltas and an
/// event type the crate does not know. Its `event_id` is `e{k}` and its content depends on
/// `k`, so the receiver can tell a lost, repeated, reordered or mixed-up event.
fn event(k: usize) -> String {
    let ids = |ty: &str| {
        json!({"type": ty, "event_id": format!("e{k}"), "response_id": "r", "item_id": "i",
            "output_index": 0, "content_index": 0})
    };
    let v = match samples(k) {
        0 if k.is_multiple_of(2) => {
            let mut v = ids("response.output_audio_transcript.delta");
            v["delta"] = json!(format!("t{k} é "));
            v
        }
        0 => json!({"type": "vivavoce.test.unknown", "event_id": format!("e{k}"), "n": k}),
        n => {
            let pcm: Vec<i16> = (0..n).map(|i| (i * 7 + k) as i16).collect();
            let mut v = ids("response.output_audio.delta");
            v["delta"] = json!(InputAudioBufferAppend::from_pcm16(&pcm).audio);
            v
        }
    };
    v.to_string()
}

/// A server that answers `response.create` with the `N` events of [`event`] and
/// `response.done`, written in runs of up to 64 frames per flush.
async fn flood_server() -> Server {
    Server::start(|mut c: Conn| async move {
        c.session_created().await;
        let frames: Vec<String> = (0..N).map(event).collect();
        while let Some(ev) = c.recv().await {
            if ev["type"] != "response.create" {
                continue;
            }
            for (k, text) in frames.iter().enumerate() {
                if c.ws.feed(Message::text(text.as_str())).await.is_err() {
                    return;
                }
                if k.is_multiple_of(1 + k % 64) && c.ws.flush().await.is_err() {
                    return;
                }
            }
            let done = json!({"type": "response.done", "event_id": "done", "response":
                {"id": "r", "object": "realtime.response", "status": "completed", "output": []}});
            c.send(done).await;
        }
    })
    .await
}

/// Checks that `ev` is event `k` with the content [`event`] gave it.
fn check(k: usize, ev: &ServerEvent, pcm: &mut Vec<i16>) {
    // What the event is, without its (long) audio.
    let what = || {
        format!(
            "{} {}",
            ev.event_type(),
            ev.raw()
                .map_or(String::new(), |r| r.as_str().chars().take(80).collect())
        )
    };
    let id = |e: &str| {
        assert_eq!(
            e,
            format!("e{k}"),
            "event {k} lost or out of order: {}",
            what()
        )
    };
    match (ev, samples(k)) {
        (ServerEvent::ResponseOutputAudioDelta(d), n) if n > 0 => {
            id(&d.event_id);
            pcm.clear();
            d.pcm16_into(pcm).unwrap();
            assert_eq!(pcm.len(), n, "event {k}: samples");
            assert_eq!(pcm[n - 1], ((n - 1) * 7 + k) as i16, "event {k}: content");
        }
        (ServerEvent::ResponseOutputAudioTranscriptDelta(d), 0) => {
            id(&d.event_id);
            assert_eq!(d.delta, format!("t{k} é "), "event {k}: text");
        }
        (ServerEvent::Unknown { event_type, raw }, 0) => {
            assert_eq!(event_type, "vivavoce.test.unknown");
            assert_eq!(raw.as_str(), event(k), "event {k}: raw text");
        }
        _ => panic!("event {k} lost or out of order: {}", what()),
    }
}

/// How a consumer reads.
#[derive(Clone, Copy, Debug)]
enum Style {
    /// `recv`, sleeping now and then.
    Slow,
    /// `recv` inside `select!` against a short timer, so many waits are dropped.
    Impatient,
    /// The `Stream` interface, yielding after each event.
    Stream,
}

async fn next_event(rx: &mut EventReceiver, style: Style) -> Option<ServerEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "{style:?}: stalled");
        match style {
            Style::Slow => {
                return tokio::time::timeout(Duration::from_secs(20), rx.recv())
                    .await
                    .unwrap();
            }
            Style::Stream => {
                return tokio::time::timeout(Duration::from_secs(20), rx.next())
                    .await
                    .unwrap();
            }
            Style::Impatient => {
                tokio::select! {
                    ev = rx.recv() => return ev,
                    () = tokio::time::sleep(Duration::from_micros(200)) => {}
                }
            }
        }
    }
}

/// Keeps the thread busy for `d`, as a consumer with work of its own would.
fn busy(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Sends `response.create` and checks every event up to `response.done`.
async fn consume(mut rx: EventReceiver, tx: vivavoce::realtime::EventSender, style: Style) {
    tx.send(ResponseCreate::default()).await.unwrap();
    let mut pcm = Vec::new();
    for k in 0..N {
        let ev = next_event(&mut rx, style)
            .await
            .unwrap_or_else(|| panic!("{style:?}: ended before event {k}"));
        check(k, &ev, &mut pcm);
        match style {
            Style::Slow if k.is_multiple_of(97) => {
                tokio::time::sleep(Duration::from_millis(2)).await
            }
            Style::Slow if k.is_multiple_of(13) => busy(Duration::from_micros(300)),
            Style::Stream => tokio::task::yield_now().await,
            _ => {}
        }
    }
    match next_event(&mut rx, style).await {
        Some(ServerEvent::ResponseDone(d)) => assert_eq!(d.event_id, "done"),
        other => panic!("{style:?}: expected response.done, got {other:?}"),
    }
    tx.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn every_event_arrives_once_in_order_under_load() {
    let server = flood_server().await;
    // Two threads that keep the cores busy, and tasks that keep the workers busy.
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    let chores: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(async {
                loop {
                    busy(Duration::from_micros(100));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let mut consumers = Vec::new();
    for style in [Style::Slow, Style::Impatient, Style::Stream] {
        for capacity in [1, 256] {
            let (tx, rx) = connected(options(&server).receive_capacity(capacity)).await;
            consumers.push(tokio::spawn(consume(rx, tx, style)));
        }
    }
    // A connection nobody reads while the others run: its backlog must not hold them up.
    let (idle_tx, mut idle_rx) = connected(options(&server)).await;
    idle_tx.send(ResponseCreate::default()).await.unwrap();

    for c in consumers {
        c.await.unwrap();
    }
    // The unread connection kept everything too.
    let mut pcm = Vec::new();
    for k in 0..N {
        let ev = next_event(&mut idle_rx, Style::Slow).await.unwrap();
        check(k, &ev, &mut pcm);
    }
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        s.join().unwrap();
    }
    for c in chores {
        c.abort();
    }
}
