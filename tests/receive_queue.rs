//! The incoming event queue over real WebSocket connections to a server on 127.0.0.1: its
//! byte bound, and the connection's work moving between the receiver and the background
//! task.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Conn, Server, connected, next, options};
use tokio::sync::mpsc;
use vivavoce::realtime::ServerEvent;
use vivavoce::realtime::events::{InputAudioBufferAppend, ResponseCreate};

/// A server that sends `n` audio deltas of `samples` samples each (event ids `a0`, `a1`,
/// …), one of `big` samples, then `response.done`, after the client's `response.create`;
/// it reports every client event type it receives.
async fn audio_server(
    n: usize,
    samples: usize,
    big: usize,
) -> (Server, mpsc::UnboundedReceiver<String>) {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let seen_tx = seen_tx.clone();
        async move {
            c.session_created().await;
            while let Some(ev) = c.recv().await {
                let ty = ev["type"].as_str().unwrap_or_default().to_owned();
                let _ = seen_tx.send(ty.clone());
                if ty != "response.create" {
                    continue;
                }
                let delta = |k: usize, len: usize| {
                    let pcm: Vec<i16> = (0..len).map(|i| (i + k) as i16).collect();
                    let audio = InputAudioBufferAppend::from_pcm16(&pcm).audio;
                    json!({"type": "response.output_audio.delta", "event_id": format!("a{k}"),
                        "response_id": "r", "item_id": "i", "output_index": 0, "content_index": 0,
                        "delta": audio})
                };
                for k in 0..n {
                    c.send(delta(k, samples)).await;
                }
                c.send(delta(n, big)).await;
                c.send(json!({"type": "response.done", "event_id": "done",
                    "response": {"id": "r", "object": "realtime.response", "status": "completed",
                        "output": []}}))
                    .await;
            }
        }
    })
    .await;
    (server, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_byte_bound_delivers_everything_in_order_and_a_large_event_alone() {
    let (server, _seen) = audio_server(300, 2400, 48_000).await;
    // 16 KiB: about two audio deltas; the last one alone is 128 KB of base64.
    let (tx, mut rx) = connected(options(&server).receive_queue_bytes(16 << 10)).await;
    tx.send(ResponseCreate::default()).await.unwrap();
    let mut pcm = Vec::new();
    for k in 0..=300 {
        match next(&mut rx).await {
            Some(ServerEvent::ResponseOutputAudioDelta(d)) => {
                assert_eq!(d.event_id, format!("a{k}"), "in order");
                pcm.clear();
                d.pcm16_into(&mut pcm).unwrap();
                let len = if k == 300 { 48_000 } else { 2400 };
                assert_eq!(pcm.len(), len);
                assert_eq!(pcm[len - 1], (len - 1 + k) as i16);
            }
            other => panic!("delta {k}: {other:?}"),
        }
        if k % 50 == 0 {
            // The receiver is slow now and then: the connection waits for it.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::ResponseDone(_))
    ));
}

/// Waits until the server has seen a client event of type `want`.
async fn wait_for(
    seen: &mut mpsc::UnboundedReceiver<String>,
    want: &str,
) -> Result<(), tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match seen.recv().await {
                Some(t) if t == want => return,
                Some(_) => {}
                None => panic!("the server stopped before {want}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_written_while_nobody_receives_and_after_a_dropped_recv() {
    let (server, mut seen) = audio_server(0, 1, 1).await;
    let (tx, mut rx) = connected(options(&server)).await;

    // Nobody in `recv`: the background task writes.
    tx.send(InputAudioBufferAppend::from_pcm16(&[1, 2]))
        .await
        .unwrap();
    wait_for(&mut seen, "input_audio_buffer.append")
        .await
        .expect("written while idle");

    // A `recv` that waited and was dropped hands the connection back.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), rx.recv())
            .await
            .is_err()
    );
    tx.send(ResponseCreate::default()).await.unwrap();
    wait_for(&mut seen, "response.create")
        .await
        .expect("written after a dropped recv");

    // The events the server sent meanwhile are all there.
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::ResponseOutputAudioDelta(_))
    ));
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::ResponseDone(_))
    ));
}

#[tokio::test]
async fn a_zero_byte_bound_is_refused_before_io() {
    let err = vivavoce::realtime::connect(
        vivavoce::realtime::ConnectOptions::default()
            .api_key("sk-x")
            .base_url("ws://127.0.0.1:9")
            .receive_queue_bytes(0),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("receive_queue_bytes"), "{err}");
}
