//! The Realtime client against hostile and faulty WebSocket servers on 127.0.0.1. Every
//! case runs on its own runtime with a time limit (`hostile_support::run`), which also
//! checks that the connection's task has ended and that no thread was left behind; each
//! case checks that what arrived before the fault was delivered, and how it ended.

mod hostile_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use hostile_support::{
    Hostile, Incoming, MEMORY, client_close_code, delta_event, frame, frame_header, memory, report,
    run, within,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use vivavoce::Error;
use vivavoce::realtime::{EventReceiver, ReconnectPolicy, ServerEvent, connect};

const WAIT: Duration = Duration::from_secs(10);

/// The next event, failing the case after 10 s.
async fn next(rx: &mut EventReceiver) -> Option<ServerEvent> {
    within(WAIT, "an event", rx.recv()).await
}

async fn expect_delta(rx: &mut EventReceiver, text: &str) {
    match next(rx).await {
        Some(ServerEvent::ResponseOutputTextDelta(d)) => assert_eq!(d.delta, text),
        other => panic!("expected the delta {text:?}, got {other:?}"),
    }
}

async fn expect_session(rx: &mut EventReceiver, id: &str) {
    match next(rx).await {
        Some(ServerEvent::SessionCreated(s)) => assert_eq!(s.session.id.as_deref(), Some(id)),
        other => panic!("expected session.created {id}, got {other:?}"),
    }
}

/// The final `Disconnected`, after which the receiver ends.
async fn final_loss(rx: &mut EventReceiver) -> vivavoce::realtime::events::Disconnected {
    let lost = match next(rx).await {
        Some(ServerEvent::Disconnected(d)) if !d.will_reconnect => d,
        other => panic!("expected the final Disconnected, got {other:?}"),
    };
    assert!(next(rx).await.is_none(), "the receiver ends after it");
    lost
}

#[test]
fn close_codes_reconnect_when_recoverable_and_end_when_final() {
    run(Duration::from_secs(60), async {
        for (code, recoverable) in [
            (1000, false),
            (1001, true),
            (1002, false),
            (1003, false),
            (1007, false),
            (1008, false),
            (1009, false),
            (1011, true),
            (1012, true),
            (1013, true),
            (4000, false),
            (4999, false),
        ] {
            let server = Hostile::start(move |i: Incoming| async move {
                let mut peer = i.accept().await;
                peer.session_created().await;
                if peer.index == 0 {
                    peer.send_text(delta_event("before the close")).await;
                    peer.close(code, "going").await;
                }
                peer.until_closed().await;
            })
            .await;
            let policy = ReconnectPolicy::default()
                .initial_backoff(Duration::from_millis(5))
                .max_attempts(2);
            let (tx, mut rx) = connect(server.options().reconnect(Some(policy)))
                .await
                .unwrap();
            expect_session(&mut rx, "sess_0").await;
            expect_delta(&mut rx, "before the close").await;
            match next(&mut rx).await {
                Some(ServerEvent::Disconnected(d)) => {
                    assert_eq!(d.close_code, Some(code));
                    assert_eq!(d.will_reconnect, recoverable, "{code}");
                    assert!(
                        matches!(&d.error, Error::Closed { code: c, reason } if *c == code && reason == "going")
                    );
                    assert_eq!(d.error.is_retryable(), recoverable, "{code}");
                }
                other => panic!("{code}: {other:?}"),
            }
            if recoverable {
                assert!(
                    matches!(next(&mut rx).await, Some(ServerEvent::Reconnected(r)) if r.attempt == 1)
                );
                expect_session(&mut rx, "sess_1").await;
                drop(tx);
            } else {
                assert!(next(&mut rx).await.is_none(), "{code}: the receiver ends");
                assert!(matches!(
                    tx.send(vivavoce::realtime::events::ResponseCreate::default())
                        .await,
                    Err(Error::ConnectionClosed)
                ));
            }
            within(WAIT, "the end", async {
                while rx.recv().await.is_some() {}
            })
            .await;
            let expected = if recoverable { 2 } else { 1 };
            assert_eq!(server.handshakes(), expected, "{code}");
        }
    });
}

#[test]
fn tcp_dropped_mid_frame_is_a_transport_loss_after_the_complete_events() {
    run(WAIT, async {
        let server = Hostile::start(|i: Incoming| async move {
            let mut peer = i.accept().await;
            peer.session_created().await;
            peer.send_text(delta_event("complete")).await;
            // A frame of 100 bytes, of which 10 arrive; then the socket is shut.
            let mut half = frame_header(1, true, 100);
            half.extend_from_slice(br#"{"type":"r"#);
            peer.raw(&half).await.unwrap();
            let _ = peer.ws.get_mut().shutdown().await;
        })
        .await;
        let (_tx, mut rx) = connect(server.options()).await.unwrap();
        expect_session(&mut rx, "sess_0").await;
        expect_delta(&mut rx, "complete").await;
        let lost = final_loss(&mut rx).await;
        assert!(
            matches!(lost.error, Error::Transport { .. }),
            "{:?}",
            lost.error
        );
        assert!(lost.error.is_retryable(), "a new connection may work");
        assert_eq!(lost.close_code, None);
    });
}

#[test]
fn a_handshake_that_stalls_is_bounded_by_the_connect_timeout() {
    run(Duration::from_secs(20), async {
        // Reads the request and answers nothing, or half of the 101 head.
        for half in [false, true] {
            let server = Hostile::start(move |mut i: Incoming| async move {
                if half {
                    let _ = i.stream.write_all(b"HTTP/1.1 101 Switching Pro").await;
                }
                std::future::pending::<()>().await;
            })
            .await;
            let limit = Duration::from_millis(300);
            let started = tokio::time::Instant::now();
            let err = within(
                WAIT,
                "connect",
                connect(server.options().connect_timeout(limit)),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(err, Error::Timeout { operation: "WebSocket handshake", after } if after == limit),
                "{err:?}"
            );
            assert!(err.is_retryable());
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
        }

        // While reconnecting: every attempt is bounded the same way.
        let server = Hostile::start(|i: Incoming| async move {
            if i.index > 0 {
                let _hold = i;
                return std::future::pending::<()>().await;
            }
            let mut peer = i.accept().await;
            peer.session_created().await;
            peer.close(1012, "restarting").await;
            peer.until_closed().await;
        })
        .await;
        let policy = ReconnectPolicy::default()
            .initial_backoff(Duration::from_millis(5))
            .max_attempts(2);
        let options = server
            .options()
            .connect_timeout(Duration::from_millis(300))
            .reconnect(Some(policy));
        let (_tx, mut rx) = connect(options).await.unwrap();
        expect_session(&mut rx, "sess_0").await;
        assert!(
            matches!(next(&mut rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect)
        );
        let lost = final_loss(&mut rx).await;
        match lost.error {
            Error::ReconnectFailed { attempts: 2, last } => {
                assert!(matches!(*last, Error::Timeout { .. }), "{last:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.handshakes(), 3);
    });
}

#[test]
fn a_session_that_stalls_mid_frame_is_ended_by_the_pong_timeout() {
    run(WAIT, async {
        let (closed_tx, closed) = report();
        let server = Hostile::start(move |i: Incoming| {
            let closed_tx = closed_tx.clone();
            async move {
                let mut peer = i.accept().await;
                peer.session_created().await;
                let mut half = frame_header(1, true, 50);
                half.extend_from_slice(b"{\"ty");
                peer.raw(&half).await.unwrap();
                // Never answers a ping again: reads raw bytes until the client hangs up.
                let mut sink = [0u8; 1024];
                while peer.ws.get_mut().read(&mut sink).await.is_ok_and(|n| n > 0) {}
                closed_tx.send(());
            }
        })
        .await;
        let options = server
            .options()
            .ping_interval(Some(Duration::from_millis(100)))
            .pong_timeout(Duration::from_millis(300));
        let (_tx, mut rx) = connect(options).await.unwrap();
        expect_session(&mut rx, "sess_0").await;
        let lost = final_loss(&mut rx).await;
        assert!(
            matches!(lost.error, Error::PongTimeout(t) if t == Duration::from_millis(300)),
            "{:?}",
            lost.error
        );
        within(WAIT, "the server to see the socket close", closed)
            .await
            .unwrap();
    });
}

/// Sends `session.created`, a delta, then `bytes_total` bytes of one text message (as one
/// frame, or in fragments of `fragment` bytes) as fast as the socket takes them; reports
/// the close code the client sent.
async fn flood_one_message(i: Incoming, bytes_total: u64, fragment: Option<usize>) -> Option<u16> {
    let mut peer = i.accept().await;
    peer.session_created().await;
    peer.send_text(delta_event("before the big one")).await;
    let (mut read, mut write) = peer.ws.into_inner().into_split();
    let writing = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = 0u64;
        if fragment.is_none() {
            write.write_all(&frame_header(1, true, bytes_total)).await?;
        }
        while sent < bytes_total {
            match fragment {
                None => write.write_all(&chunk).await?,
                Some(n) => {
                    let opcode = if sent == 0 { 1 } else { 0 };
                    write.write_all(&frame(opcode, false, &chunk[..n])).await?;
                }
            }
            sent += chunk.len().min(fragment.unwrap_or(usize::MAX)) as u64;
        }
        Ok::<_, std::io::Error>(())
    });
    let code = client_close_code(&mut read).await;
    writing.abort();
    code
}

#[test]
fn an_oversized_message_is_refused_with_its_size_and_memory_stays_bounded() {
    let _one_at_a_time = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    run(Duration::from_secs(30), async {
        const FIFTY_MB: u64 = 50 * 1024 * 1024;
        let limit = vivavoce::realtime::ConnectOptions::default().max_message_bytes;
        assert_eq!(limit, 16 << 20, "the documented default");
        // One 50 MB frame, then a message of 20 MiB in fragments of 64 KiB.
        for fragment in [None, Some(64 << 10)] {
            let total = if fragment.is_some() {
                20 << 20
            } else {
                FIFTY_MB
            };
            let (code_tx, code) = report();
            let server = Hostile::start(move |i: Incoming| {
                let code_tx = code_tx.clone();
                async move {
                    let code = flood_one_message(i, total, fragment).await;
                    code_tx.send(code);
                }
            })
            .await;
            let (rss_before, _) = memory();
            let (_tx, mut rx) = connect(server.options()).await.unwrap();
            expect_session(&mut rx, "sess_0").await;
            expect_delta(&mut rx, "before the big one").await;
            let lost = final_loss(&mut rx).await;
            let text = lost.error.to_string();
            assert!(matches!(lost.error, Error::Transport { .. }), "{text}");
            assert!(
                text.contains(&format!("> {limit}")),
                "names the limit: {text}"
            );
            if fragment.is_none() {
                assert!(
                    text.contains(&FIFTY_MB.to_string()),
                    "names the size: {text}"
                );
            }
            let (rss_after, _) = memory();
            let growth = rss_after.saturating_sub(rss_before);
            assert!(
                growth < 24 << 20,
                "resident memory grew by {growth} bytes for a refused {total}-byte message"
            );
            let code = within(WAIT, "the client's close", code).await.unwrap();
            assert_eq!(code, Some(1009), "closed as too big");
        }
    });
}

#[test]
fn invalid_utf8_in_a_text_frame_ends_the_connection_with_1007() {
    run(WAIT, async {
        let (code_tx, code) = report();
        let server = Hostile::start(move |i: Incoming| {
            let code_tx = code_tx.clone();
            async move {
                let mut peer = i.accept().await;
                peer.session_created().await;
                peer.send_text(delta_event("valid")).await;
                peer.raw(&frame(1, true, b"{\"type\":\"\xff\xfe\"}"))
                    .await
                    .unwrap();
                let (code, _) = peer.until_closed().await;
                code_tx.send(code);
            }
        })
        .await;
        let (_tx, mut rx) = connect(server.options()).await.unwrap();
        expect_session(&mut rx, "sess_0").await;
        expect_delta(&mut rx, "valid").await;
        let lost = final_loss(&mut rx).await;
        assert!(
            matches!(lost.error, Error::Transport { .. }),
            "{:?}",
            lost.error
        );
        assert!(lost.error.to_string().contains("UTF-8"), "{}", lost.error);
        let code = within(WAIT, "the client's close", code).await.unwrap();
        assert_eq!(code, Some(1007));
    });
}

#[test]
fn binary_frames_are_reported_and_the_session_goes_on() {
    run(WAIT, async {
        let (code_tx, code) = report();
        let server = Hostile::start(move |i: Incoming| {
            let code_tx = code_tx.clone();
            async move {
                let mut peer = i.accept().await;
                peer.ws
                    .send(Message::binary(vec![7u8; 1000]))
                    .await
                    .unwrap();
                peer.send_text(delta_event("after the binary")).await;
                let (code, _) = peer.until_closed().await;
                code_tx.send(code);
            }
        })
        .await;
        let (tx, mut rx) = connect(server.options()).await.unwrap();
        match next(&mut rx).await {
            Some(ServerEvent::Malformed { error, .. }) => {
                assert!(error.contains("binary frame of 1000 bytes"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        expect_delta(&mut rx, "after the binary").await;
        drop(tx);
        assert!(next(&mut rx).await.is_none());
        assert_eq!(within(WAIT, "close", code).await.unwrap(), Some(1000));
    });
}

#[test]
fn fragmented_messages_are_joined_even_around_a_ping_and_a_split_character() {
    run(WAIT, async {
        let (pongs_tx, pongs) = report();
        let server = Hostile::start(move |i: Incoming| {
            let pongs_tx = pongs_tx.clone();
            async move {
                let mut peer = i.accept().await;
                let text = delta_event("caf\u{e9} in three pieces");
                let bytes = text.as_bytes();
                // The second cut falls inside the two bytes of 'é'.
                let cut = text.find('\u{e9}').unwrap() + 1;
                let mut raw = frame(1, false, &bytes[..10]);
                raw.extend(frame(9, true, b"mid-message ping"));
                raw.extend(frame(0, false, &bytes[10..cut]));
                raw.extend(frame(0, true, &bytes[cut..]));
                peer.raw(&raw).await.unwrap();
                let (_, n) = peer.until_closed().await;
                pongs_tx.send(n);
            }
        })
        .await;
        let (tx, mut rx) = connect(server.options()).await.unwrap();
        expect_delta(&mut rx, "caf\u{e9} in three pieces").await;
        drop(tx);
        assert!(next(&mut rx).await.is_none());
        assert_eq!(
            within(WAIT, "close", pongs).await.unwrap(),
            1,
            "the ping was answered"
        );
    });
}

#[test]
fn a_ping_flood_is_answered_without_starving_events_or_growing_memory() {
    let _one_at_a_time = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    run(Duration::from_secs(30), async {
        const PINGS: usize = 20_000;
        const EVERY: usize = 1_000;
        let (pongs_tx, pongs) = report();
        let server = Hostile::start(move |i: Incoming| {
            let pongs_tx = pongs_tx.clone();
            async move {
                let mut peer = i.accept().await;
                // Pings as fast as the socket takes them, without reading the pongs.
                for n in 0..PINGS {
                    peer.ws
                        .feed(Message::Ping([b'p'; 125].to_vec().into()))
                        .await
                        .unwrap();
                    if n % EVERY == 0 {
                        peer.ws
                            .feed(Message::text(delta_event(&n.to_string())))
                            .await
                            .unwrap();
                    }
                }
                peer.ws.flush().await.unwrap();
                let (_, n) = peer.until_closed().await;
                pongs_tx.send(n);
            }
        })
        .await;
        let (rss_before, _) = memory();
        let (tx, mut rx) = connect(server.options()).await.unwrap();
        for n in (0..PINGS).step_by(EVERY) {
            expect_delta(&mut rx, &n.to_string()).await;
        }
        let growth = memory().0.saturating_sub(rss_before);
        assert!(growth < 16 << 20, "resident memory grew by {growth} bytes");
        drop(tx);
        assert!(next(&mut rx).await.is_none());
        let pongs = within(WAIT, "close", pongs).await.unwrap();
        // A pong not yet written is replaced by the next one: some are merged, none pile up.
        assert!((1..=PINGS).contains(&pongs), "{pongs} pongs");
    });
}

#[test]
fn an_event_flood_blocks_reading_instead_of_buffering_or_dropping() {
    let _one_at_a_time = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    run(Duration::from_secs(60), async {
        const EVENTS: usize = 20_000;
        let written = Arc::new(AtomicUsize::new(0));
        let count = written.clone();
        let server = Hostile::start(move |i: Incoming| {
            let count = count.clone();
            async move {
                let mut peer = i.accept().await;
                peer.session_created().await;
                let padding = "x".repeat(1000);
                for n in 0..EVENTS {
                    let event = delta_event(&format!("{n} {padding}"));
                    if peer.ws.send(Message::text(event)).await.is_err() {
                        return;
                    }
                    count.store(n + 1, Ordering::SeqCst);
                }
                peer.until_closed().await;
            }
        })
        .await;
        let (rss_before, _) = memory();
        let (tx, mut rx) = connect(server.options()).await.unwrap();
        expect_session(&mut rx, "sess_0").await;
        // The consumer reads nothing for a while: the server ends up blocked.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let stalled = written.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            written.load(Ordering::SeqCst),
            stalled,
            "the server is blocked"
        );
        assert!(
            stalled < EVENTS,
            "{stalled} of {EVENTS} written: TCP pushes back"
        );
        let growth = memory().0.saturating_sub(rss_before);
        assert!(growth < 16 << 20, "resident memory grew by {growth} bytes");
        // Then everything arrives, in order, nothing lost.
        for n in 0..EVENTS {
            match next(&mut rx).await {
                Some(ServerEvent::ResponseOutputTextDelta(d)) => {
                    let seq = d.delta.split(' ').next().unwrap();
                    assert_eq!(seq, n.to_string());
                }
                other => panic!("event {n}: {other:?}"),
            }
        }
        drop(tx);
        assert!(next(&mut rx).await.is_none());
    });
}

#[test]
fn protocol_violations_end_the_connection_with_1002() {
    run(Duration::from_secs(30), async {
        let masked = {
            let mut f = frame(1, true, b"abcd");
            f[1] |= 0x80;
            f.splice(2..2, [0u8; 4]);
            f
        };
        for (what, bytes) in [
            ("a masked frame", masked),
            ("reserved bits", vec![0xF1, 0x01, b'x']),
            (
                "a continuation with nothing to continue",
                frame(0, true, b"x"),
            ),
            ("a fragmented ping", frame(9, false, b"x")),
            ("a reserved opcode", frame(3, true, b"x")),
            ("a ping of 126 bytes", frame(9, true, &[0u8; 126])),
        ] {
            let (code_tx, code) = report();
            let server = Hostile::start(move |i: Incoming| {
                let (code_tx, bytes) = (code_tx.clone(), bytes.clone());
                async move {
                    let mut peer = i.accept().await;
                    peer.send_text(delta_event("before")).await;
                    peer.raw(&bytes).await.unwrap();
                    let (mut read, _write) = peer.ws.into_inner().into_split();
                    let code = client_close_code(&mut read).await;
                    code_tx.send(code);
                }
            })
            .await;
            let (_tx, mut rx) = connect(server.options()).await.unwrap();
            expect_delta(&mut rx, "before").await;
            let lost = final_loss(&mut rx).await;
            assert!(
                matches!(lost.error, Error::Transport { .. }),
                "{what}: {:?}",
                lost.error
            );
            let code = within(WAIT, "the client's close", code).await.unwrap();
            assert_eq!(code, Some(1002), "{what}: {}", lost.error);
        }
    });
}
