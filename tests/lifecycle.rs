//! The connection's lifecycle at its edges: cancelled sends, events lost with the
//! connection, and options at their extremes. Real WebSockets on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Conn, Server, connected, next, options};
use tokio::sync::{Notify, mpsc};
use vivavoce::Error;
use vivavoce::realtime::events::{InputAudioBufferAppend, SessionUpdate};
use vivavoce::realtime::{
    ConnectOptions, EventSender, ReconnectPolicy, ServerEvent, Session, connect,
};

const LIMIT: Duration = Duration::from_secs(10);

/// A server that sends `session.created`, then reads nothing until `go` is notified (its
/// socket buffers fill up and the client's writes stall), then counts the appends it
/// reads until the client closes.
async fn stalling_server(go: Arc<Notify>, appends: Arc<AtomicUsize>) -> Server {
    Server::start(move |mut c: Conn| {
        let go = go.clone();
        let appends = appends.clone();
        async move {
            c.session_created().await;
            go.notified().await;
            while let Some(ev) = c.recv().await {
                if ev["type"] == "input_audio_buffer.append" {
                    appends.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })
    .await
}

/// Sends `event` until a send has waited 500 ms (the socket and the channel are full);
/// returns how many were accepted.
async fn fill(tx: &EventSender, event: &InputAudioBufferAppend) -> usize {
    let mut accepted = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), tx.send(event.clone())).await {
            Ok(result) => {
                result.unwrap();
                accepted += 1;
                assert!(accepted < 100_000, "the send queue never filled up");
            }
            Err(_) => return accepted,
        }
    }
}

#[tokio::test]
async fn cancelled_sends_leak_nothing() {
    let go = Arc::new(Notify::new());
    let appends = Arc::new(AtomicUsize::new(0));
    let server = stalling_server(go.clone(), appends.clone()).await;
    // Room for every byte the stalled socket holds, but not for what 10,000 cancelled
    // sends would take if each kept its bytes.
    let (tx, mut rx) = connect(options(&server).send_capacity(4).send_queue_bytes(32 << 20))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    let big = InputAudioBufferAppend::from_pcm16(&[1000; 24_000]); // 64 kB of JSON
    let mut accepted = fill(&tx, &big).await;

    let small = InputAudioBufferAppend::from_pcm16(&[7; 3_000]); // 8 kB of JSON
    for _ in 0..10_000 {
        if let Ok(result) =
            tokio::time::timeout(Duration::from_micros(1), tx.send(small.clone())).await
        {
            result.unwrap();
            accepted += 1;
        }
    }
    // The server reads again: every accepted event arrives, and a new send is taken.
    go.notify_one();
    tokio::time::timeout(LIMIT, tx.send(small.clone()))
        .await
        .expect("send after the cancellations")
        .expect("the byte budget is intact");
    accepted += 1;
    tx.close().await.unwrap();
    while next(&mut rx).await.is_some() {}
    assert_eq!(appends.load(Ordering::SeqCst), accepted);
}

#[tokio::test]
async fn a_lost_connection_reports_the_events_it_never_wrote() {
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
        // Read nothing for a while, then drop the connection without a close frame.
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    let capacity = 4;
    let (tx, mut rx) = connect(options(&server).send_capacity(capacity))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    let big = InputAudioBufferAppend::from_pcm16(&[1000; 24_000]);
    let accepted = fill(&tx, &big).await;
    assert!(accepted > capacity);
    // A send waiting when the connection goes is refused, not counted.
    let waiting = tokio::spawn({
        let tx = tx.clone();
        let big = big.clone();
        async move { tx.send(big).await }
    });
    match next(&mut rx).await {
        Some(ServerEvent::Disconnected(d)) => {
            assert!(!d.will_reconnect);
            // The full channel, and the event whose write failed.
            assert!(
                (capacity..=capacity + 1).contains(&d.unsent),
                "unsent {} with a channel of {capacity}",
                d.unsent
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    assert!(matches!(
        waiting.await.unwrap(),
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn giving_up_on_reconnecting_reports_the_queued_events() {
    let server = Server::lost_then_revoked().await;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::from_millis(400))
        .max_attempts(3);
    let (tx, mut rx) = connected(options(&server).reconnect(Some(policy))).await;
    match next(&mut rx).await {
        Some(ServerEvent::Disconnected(d)) => {
            assert!(d.will_reconnect);
            assert_eq!(d.unsent, 0, "kept for the new connection");
        }
        other => panic!("{other:?}"),
    }
    for _ in 0..3 {
        tx.send(InputAudioBufferAppend::from_pcm16(&[1; 240]))
            .await
            .unwrap();
    }
    match next(&mut rx).await {
        Some(ServerEvent::Disconnected(d)) => {
            assert!(!d.will_reconnect);
            assert!(
                matches!(d.error, Error::ReconnectFailed { .. }),
                "{:?}",
                d.error
            );
            assert_eq!(d.unsent, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
}

/// Connects, asks for a session change, sees it confirmed, closes, and sees the receiver
/// end without a `Disconnected`.
async fn round_trip(options: ConnectOptions) {
    let (tx, mut rx) = connect(options).await.unwrap();
    tx.send(SessionUpdate::new(
        Session::default().instructions("Be brief."),
    ))
    .await
    .unwrap();
    loop {
        match next(&mut rx).await {
            Some(ServerEvent::SessionUpdated(_)) => break,
            Some(ServerEvent::Disconnected(d)) => panic!("{:?}", d.error),
            Some(_) => {}
            None => panic!("ended before session.updated"),
        }
    }
    tokio::time::timeout(LIMIT, tx.close())
        .await
        .expect("close within 10 s")
        .unwrap();
    while let Some(event) = next(&mut rx).await {
        assert!(!matches!(event, ServerEvent::Disconnected(_)), "{event:?}");
    }
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn every_duration_option_at_its_maximum_works_or_is_refused() {
    let sim = vivavoce::mock::RealtimeSimulator::start(Default::default())
        .await
        .unwrap();
    let base = || sim.connect_options();
    round_trip(base().ping_interval(Some(Duration::MAX))).await;
    round_trip(
        base()
            .ping_interval(Some(Duration::from_millis(20)))
            .pong_timeout(Duration::MAX),
    )
    .await;
    round_trip(base().connect_timeout(Duration::MAX)).await;
    round_trip(base().close_timeout(Duration::MAX)).await;
    round_trip(base().close_timeout(Duration::ZERO)).await;
    let huge = ReconnectPolicy::default()
        .initial_backoff(Duration::MAX)
        .max_backoff(Duration::MAX)
        .multiplier(f64::MAX);
    round_trip(base().reconnect(Some(huge))).await;

    // Zero where zero cannot work is refused before any I/O: with nothing listening,
    // a connection attempt would be an `Error::Connect`.
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}/v1/realtime", l.local_addr().unwrap())
    };
    let dead = || base().base_url(nowhere.clone());
    for (option, o) in [
        ("ping_interval", dead().ping_interval(Some(Duration::ZERO))),
        ("pong_timeout", dead().pong_timeout(Duration::ZERO)),
        ("connect_timeout", dead().connect_timeout(Duration::ZERO)),
    ] {
        match connect(o).await {
            Err(Error::InvalidOption { option: got, .. }) => assert_eq!(got, option),
            other => panic!("{option}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_huge_backoff_is_still_interrupted_by_close() {
    let (lost_tx, mut lost) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let lost_tx = lost_tx.clone();
        async move {
            c.session_created().await;
            let _ = lost_tx.send(());
        }
    })
    .await;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::MAX)
        .max_backoff(Duration::MAX);
    let (tx, mut rx) = connect(options(&server).reconnect(Some(policy)))
        .await
        .unwrap();
    lost.recv().await.unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    assert!(matches!(next(&mut rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    tokio::time::timeout(LIMIT, tx.close())
        .await
        .expect("close answers while waiting to reconnect")
        .unwrap();
    assert!(next(&mut rx).await.is_none());
}

#[tokio::test]
async fn a_reconnect_hook_brings_a_fresh_key_or_gives_up() {
    use vivavoce::realtime::Reconnecting;
    let server = Server::lost_then_revoked().await;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_attempts(5);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = options(&server)
        .reconnect(Some(policy.clone()))
        .on_reconnecting(move |attempt, error| {
            log.lock().unwrap().push((attempt, error.status()));
            // The first attempt keeps the revoked key (refused with 401), the next brings
            // a fresh one.
            if attempt == 1 {
                Reconnecting::Continue
            } else {
                Reconnecting::WithKey(support::FRESH_KEY.into())
            }
        });
    let (tx, mut rx) = connected(options).await;
    assert!(matches!(next(&mut rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    match next(&mut rx).await {
        Some(ServerEvent::Reconnected(r)) => assert_eq!(r.attempt, 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    // Before the first attempt the hook sees the loss; before the second, the 401.
    assert_eq!(*seen.lock().unwrap(), [(1, None), (2, Some(401))]);
    tx.close().await.unwrap();

    // Giving up: no attempt is made, and the receiver ends with the loss.
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await; // and lost
    })
    .await;
    let options = support::options(&server)
        .reconnect(Some(policy))
        .on_reconnecting(|_, _| Reconnecting::Abort);
    let (_tx, mut rx) = connect(options).await.unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    assert!(matches!(next(&mut rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    match next(&mut rx).await {
        Some(ServerEvent::Disconnected(d)) => {
            assert!(!d.will_reconnect);
            assert!(
                matches!(d.error, Error::ReconnectFailed { attempts: 0, .. }),
                "{:?}",
                d.error
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}
