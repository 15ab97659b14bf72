//! `connect` over real WebSocket connections to a server on 127.0.0.1.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::{Conn, KEY, Server, connected, next, options};
use tokio::sync::mpsc;
use vivavoce::Error;
use vivavoce::realtime::events::{
    ConversationItemCreate, InputAudioBufferAppend, ResponseCreate, SessionUpdate, VoiceName,
};
use vivavoce::realtime::{ClientEvent, Item, ReconnectPolicy, ServerEvent, Session, connect};

const LIMIT: Duration = Duration::from_secs(10);

/// Waits for the final `Disconnected` of a reconnect that gave up, and the end.
async fn reconnect_failure(rx: &mut vivavoce::realtime::EventReceiver) -> (u32, Error) {
    assert!(matches!(next(rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    let failure = match next(rx).await.unwrap() {
        ServerEvent::Disconnected(d) if !d.will_reconnect => match d.error {
            Error::ReconnectFailed { attempts, last } => (attempts, *last),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(
        next(rx).await.is_none(),
        "the receiver ends after giving up"
    );
    failure
}

#[tokio::test]
async fn exchanges_typed_events_both_ways() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let seen_tx = seen_tx.clone();
        async move {
            seen_tx.send(json!({"uri": c.uri})).unwrap();
            c.session_created().await;
            while let Some(ev) = c.recv().await {
                seen_tx.send(ev.clone()).unwrap();
                if ev["type"] == "conversation.item.create" {
                    let mut item = ev["item"].clone();
                    item["id"] = json!("item_1");
                    c.send(json!({"type": "conversation.item.added", "event_id": "e1", "previous_item_id": null, "item": item})).await;
                }
                if ev["type"] == "response.create" {
                    c.send(json!({"type": "response.output_audio.delta", "event_id": "e2", "response_id": "r",
                        "item_id": "i", "output_index": 0, "content_index": 0, "delta": "AAABAP//"})).await;
                }
            }
        }
    })
    .await;

    let (tx, mut rx) = connect(options(&server)).await.unwrap();
    let uri = seen.recv().await.unwrap();
    assert_eq!(uri["uri"], "/v1/realtime?model=gpt-realtime");

    match next(&mut rx).await.unwrap() {
        ServerEvent::SessionCreated(s) => {
            assert_eq!(s.session.id.as_deref(), Some("sess_0"));
            assert!(s.raw().unwrap().as_str().contains("\"session.created\""));
        }
        other => panic!("{other:?}"),
    }
    tx.send(ConversationItemCreate::new(Item::user_text("hello")))
        .await
        .unwrap();
    match next(&mut rx).await.unwrap() {
        ServerEvent::ConversationItemAdded(a) => {
            assert_eq!(a.item.id(), Some("item_1"));
            assert_eq!(a.item, {
                let Item::Message(mut m) = Item::user_text("hello") else {
                    unreachable!()
                };
                m.id = Some("item_1".into());
                Item::Message(m)
            });
        }
        other => panic!("{other:?}"),
    }
    tx.send(ResponseCreate::default()).await.unwrap();
    match next(&mut rx).await.unwrap() {
        ServerEvent::ResponseOutputAudioDelta(d) => assert_eq!(d.pcm16().unwrap(), vec![0, 1, -1]),
        other => panic!("{other:?}"),
    }
    let create = seen.recv().await.unwrap();
    assert_eq!(
        create,
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "hello"}]}})
    );
    assert_eq!(
        seen.recv().await.unwrap(),
        json!({"type": "response.create"})
    );
}

#[tokio::test]
async fn sink_and_stream_impls() {
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
        while let Some(ev) = c.recv().await {
            let n = ev["audio"].as_str().map(str::len).unwrap_or(0);
            c.send(json!({"type": "input_audio_buffer.committed", "event_id": "e", "previous_item_id": null,
                "item_id": format!("len{n}")})).await;
        }
    })
    .await;
    let (mut tx, mut rx) = connect(options(&server)).await.unwrap();
    assert!(matches!(
        rx.next().await,
        Some(ServerEvent::SessionCreated(_))
    ));
    SinkExt::send(
        &mut tx,
        ClientEvent::from(InputAudioBufferAppend::from_pcm16(&[1, 2, 3])),
    )
    .await
    .unwrap();
    match tokio::time::timeout(LIMIT, rx.next())
        .await
        .unwrap()
        .unwrap()
    {
        ServerEvent::InputAudioBufferCommitted(c) => assert_eq!(c.item_id, "len8"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_key_is_a_typed_401_with_the_body_and_no_key() {
    let server = Server::start(|_c: Conn| async {}).await;
    let err = connect(options(&server).api_key("sk-wrong-secret-key"))
        .await
        .unwrap_err();
    match &err {
        Error::Http(h) if h.status == 401 => {
            assert!(h.body.contains("invalid_api_key"), "{}", h.body);
            assert!(h.url.ends_with("/v1/realtime?model=gpt-realtime"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(401));
    // The API's error object, parsed: a program can match on its code.
    let api = err
        .api_error()
        .expect("the simulator answers with the API's error body");
    assert_eq!(api.code.as_deref(), Some("invalid_api_key"));
    assert_eq!(api.kind, "invalid_request_error");
    assert!(!err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("sk-wrong-secret-key"));
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn not_found_refused_and_tls_failures_are_typed() {
    let server = Server::start(|_c: Conn| async {}).await;
    let err = connect(options(&server).base_url(format!("ws://{}/v2/nowhere", server.addr)))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Http(h) if h.status == 404), "{err:?}");

    // Refused: a port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = connect(options(&server).base_url(format!("ws://127.0.0.1:{port}/v1/realtime")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // TLS: wss:// to a server that speaks plain WebSocket.
    let err = connect(options(&server).base_url(format!("wss://{}/v1/realtime", server.addr)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_malformed_and_beta_events_do_not_stop_the_session() {
    let server = Server::start(|mut c: Conn| async move {
        c.send_text(r#"{"type":"response.hologram.delta","event_id":"e1"}"#).await;
        c.send_text(r#"{"type":"response.output_text.delta","event_id":"e2","delta":42}"#).await;
        c.send_text("this is not json").await;
        c.send_text(r#"{"type":"response.text.delta","event_id":"e3","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"Hi"}"#).await;
        c.send_text(r#"{"type":"error","event_id":"e4","error":{"type":"invalid_request_error","code":"unknown_parameter","message":"Unknown parameter: 'session.foo'.","param":"session.foo","event_id":"c1"}}"#).await;
        let _ = c.recv().await;
    })
    .await;
    let (_tx, mut rx) = connect(options(&server)).await.unwrap();
    match next(&mut rx).await.unwrap() {
        ServerEvent::Unknown { event_type, raw } => {
            assert_eq!(event_type, "response.hologram.delta");
            assert_eq!(
                raw.as_str(),
                r#"{"type":"response.hologram.delta","event_id":"e1"}"#
            );
        }
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await.unwrap() {
        ServerEvent::Malformed {
            event_type, error, ..
        } => {
            assert_eq!(event_type, "response.output_text.delta");
            assert!(error.starts_with("delta: invalid type"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await.unwrap() {
        ServerEvent::Malformed {
            event_type,
            error,
            raw,
        } => {
            assert_eq!(event_type, "");
            assert!(error.contains("invalid JSON"), "{error}");
            assert_eq!(raw.as_str(), "this is not json");
        }
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await.unwrap() {
        ServerEvent::ResponseOutputTextDelta(d) => assert_eq!(d.delta, "Hi"),
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await.unwrap() {
        ServerEvent::ErrorEvent(e) => {
            assert_eq!(e.error.code.as_deref(), Some("unknown_parameter"));
            assert_eq!(e.error.param.as_deref(), Some("session.foo"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dead_server_is_detected_by_the_pong_timeout() {
    let server = Server::start(|c: Conn| async move {
        // Never reads, so never answers a ping.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(c);
    })
    .await;
    let opts = options(&server)
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(300));
    let (tx, mut rx) = connect(opts).await.unwrap();
    match next(&mut rx).await.unwrap() {
        ServerEvent::Disconnected(d) => {
            assert!(
                matches!(d.error, Error::PongTimeout(t) if t == Duration::from_millis(300)),
                "{:?}",
                d.error
            );
            assert!(!d.will_reconnect);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        next(&mut rx).await.is_none(),
        "the receiver ends after the final event"
    );
    assert!(matches!(
        tx.send(ResponseCreate::default()).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn pings_keep_coming_at_the_interval_while_events_flow() {
    // The server counts pings over 600 ms at one every 50 ms, sending events all along
    // (each turn of the client's loop must leave the ping timer running, not restart it).
    let (count_tx, mut count_rx) = mpsc::channel(1);
    let server = Server::start(move |mut c: Conn| {
        let count_tx = count_tx.clone();
        async move {
        let t0 = tokio::time::Instant::now();
        let mut pings = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        while t0.elapsed() < Duration::from_millis(600) {
            tokio::select! {
                msg = c.ws.next() => match msg {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) => pings += 1,
                    Some(Ok(_)) => {}
                    _ => break,
                },
                _ = tick.tick() => c.send(json!({"type": "input_audio_buffer.cleared", "event_id": "e"})).await,
            }
        }
        let _ = count_tx.send(pings).await;
        while c.recv().await.is_some() {}
        }
    })
    .await;
    let opts = options(&server)
        .ping_interval(Some(Duration::from_millis(50)))
        .pong_timeout(Duration::from_secs(5));
    let (tx, mut rx) = connect(opts).await.unwrap();
    let reader = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let pings = tokio::time::timeout(Duration::from_secs(10), count_rx.recv())
        .await
        .unwrap()
        .unwrap();
    // 12 are due; a busy machine may delay some, but a timer that fired once and never
    // again, or fires on every turn, is far from it.
    assert!(
        (6..=14).contains(&pings),
        "{pings} pings in 600 ms at one per 50 ms"
    );
    drop(tx);
    reader.abort();
}

#[tokio::test]
async fn live_server_answers_pings_and_stays_up() {
    let server =
        Server::start(|mut c: Conn| async move { while c.recv().await.is_some() {} }).await;
    // Many pings (every 50 ms), each answered well inside its timeout; the timeout leaves
    // room for a busy machine to be late with an answer, which is not what is tested.
    let opts = options(&server)
        .ping_interval(Some(Duration::from_millis(50)))
        .pong_timeout(Duration::from_millis(500));
    let (tx, mut rx) = connect(opts).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(
        quiet.is_err(),
        "no event, in particular no Disconnected: {quiet:?}"
    );
    drop(tx);
}

#[tokio::test]
async fn dropping_the_sender_closes_with_1000_and_the_receiver_gets_the_last_events() {
    let (code_tx, mut code_rx) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let code_tx = code_tx.clone();
        async move {
            c.session_created().await;
            // The client closes meanwhile; this event is already on its way and must
            // still be delivered.
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.send(json!({"type": "input_audio_buffer.cleared", "event_id": "last"}))
                .await;
            use tokio_tungstenite::tungstenite::Message;
            while let Some(msg) = c.ws.next().await {
                if let Ok(Message::Close(frame)) = msg {
                    code_tx.send(frame.map(|f| u16::from(f.code))).unwrap();
                    // tungstenite answers the close frame for us.
                    break;
                }
            }
        }
    })
    .await;
    let (tx, mut rx) = connect(options(&server)).await.unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    drop(tx);
    assert_eq!(
        tokio::time::timeout(LIMIT, code_rx.recv()).await.unwrap(),
        Some(Some(1000))
    );
    match next(&mut rx).await {
        Some(ServerEvent::InputAudioBufferCleared(e)) => assert_eq!(e.event_id, "last"),
        other => panic!("the server's last event is delivered: {other:?}"),
    }
    assert!(
        next(&mut rx).await.is_none(),
        "ends quietly after our own close"
    );
}

#[tokio::test]
async fn close_waits_for_the_frame_and_later_sends_fail() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let seen_tx = seen_tx.clone();
        async move {
            while let Some(ev) = c.recv().await {
                seen_tx
                    .send(ev["type"].as_str().unwrap().to_owned())
                    .unwrap();
            }
            seen_tx.send("closed".to_owned()).unwrap();
        }
    })
    .await;
    let (tx, mut rx) = connect(options(&server)).await.unwrap();
    let other = tx.clone();
    tx.send(ResponseCreate::default()).await.unwrap();
    tx.close().await.unwrap();
    assert_eq!(
        seen.recv().await.unwrap(),
        "response.create",
        "events before close are written first"
    );
    assert_eq!(seen.recv().await.unwrap(), "closed");
    assert!(next(&mut rx).await.is_none());
    assert!(matches!(
        other.send(ResponseCreate::default()).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn server_close_is_reported_not_silent() {
    let server = Server::start(|mut c: Conn| async move {
        use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
        c.session_created().await;
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: "session expired".into(),
        };
        let _ = c.ws.close(Some(frame)).await;
    })
    .await;
    // Even with a reconnect policy, 1008 is not recoverable.
    let (_tx, mut rx) = connect(options(&server).reconnect(Some(ReconnectPolicy::default())))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    match next(&mut rx).await.unwrap() {
        ServerEvent::Disconnected(d) => {
            assert_eq!(d.close_code, Some(1008));
            assert!(!d.will_reconnect);
            assert!(
                d.error.to_string().contains("session expired"),
                "{}",
                d.error
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn reconnects_replays_the_merged_session_and_flushes_the_queue() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(usize, serde_json::Value)>();
    let server = Server::start(move |mut c: Conn| {
        let seen_tx = seen_tx.clone();
        async move {
            c.session_created().await;
            while let Some(ev) = c.recv().await {
                seen_tx.send((c.index, ev.clone())).unwrap();
                if c.index == 0 && ev["type"] == "response.create" {
                    // Transport loss: drop the TCP connection without a close frame.
                    return;
                }
            }
        }
    })
    .await;
    let policy = ReconnectPolicy::default().initial_backoff(Duration::from_millis(300));
    let (tx, mut rx) = connect(options(&server).reconnect(Some(policy)))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));

    let voice = SessionUpdate::new(
        Session::default()
            .instructions("Be brief.")
            .voice(VoiceName::Marin),
    );
    let ptt = SessionUpdate::new(Session::default().push_to_talk());
    tx.send(voice).await.unwrap();
    tx.send(ptt).await.unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(seen.recv().await.unwrap().0, 0);
    }

    match next(&mut rx).await.unwrap() {
        ServerEvent::Disconnected(d) => {
            assert!(d.will_reconnect, "{d:?}");
            assert!(d.error.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    // Sent while the connection is down: queued, then flushed in order.
    tx.send(InputAudioBufferAppend::from_pcm16(&[5; 4]))
        .await
        .unwrap();
    tx.send(ClientEvent::Raw(
        json!({"type": "input_audio_buffer.commit"}),
    ))
    .await
    .unwrap();

    match next(&mut rx).await.unwrap() {
        ServerEvent::Reconnected(r) => {
            assert_eq!(r.attempt, 1);
            assert!(r.session_replayed);
            assert_eq!(r.flushed_events, 2);
            assert!(r.downtime >= Duration::from_millis(150), "{:?}", r.downtime);
        }
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await.unwrap() {
        ServerEvent::SessionCreated(s) => assert_eq!(
            s.session.id.as_deref(),
            Some("sess_1"),
            "a new server session"
        ),
        other => panic!("{other:?}"),
    }
    let (i, replay) = seen.recv().await.unwrap();
    assert_eq!(i, 1);
    assert_eq!(
        replay,
        json!({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.",
        "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": null}}}})
    );
    assert_eq!(
        seen.recv().await.unwrap().1["type"],
        "input_audio_buffer.append"
    );
    assert_eq!(
        seen.recv().await.unwrap().1["type"],
        "input_audio_buffer.commit"
    );
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn reconnect_gives_up_on_a_refused_key_and_says_so() {
    let server = Server::lost_then_revoked().await;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_attempts(5);
    let (_tx, mut rx) = connected(options(&server).reconnect(Some(policy))).await;
    let (attempts, last) = reconnect_failure(&mut rx).await;
    assert_eq!(attempts, 1, "a 401 is final: no more attempts");
    assert_eq!(last.status(), Some(401), "{last}");
}

#[tokio::test]
async fn reconnect_gives_up_after_max_attempts() {
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
    })
    .await;
    let addr = server.addr;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_attempts(3);
    let (_tx, mut rx) = connect(options(&server).reconnect(Some(policy)))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    drop(server); // Nothing listens any more: every attempt is refused.
    let (attempts, last) = reconnect_failure(&mut rx).await;
    assert_eq!(attempts, 3);
    assert!(matches!(last, Error::Connect { .. }), "{last:?}");
    assert!(last.to_string().contains(&addr.to_string()));
}

#[tokio::test]
async fn full_send_queue_while_disconnected_is_an_error_not_a_silent_drop() {
    let server = Server::start(|mut c: Conn| async move {
        if c.index == 0 {
            c.session_created().await;
            return; // Lost; later attempts are refused below.
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let policy = ReconnectPolicy::default()
        .initial_backoff(Duration::from_secs(5))
        .max_attempts(1);
    let (tx, mut rx) = connect(
        options(&server)
            .send_queue_bytes(200)
            .reconnect(Some(policy)),
    )
    .await
    .unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    assert!(matches!(next(&mut rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    let chunk = InputAudioBufferAppend::from_pcm16(&[0; 40]); // ~150 bytes of JSON.
    tx.send(chunk.clone()).await.unwrap();
    let err = tx.send(chunk).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::SendQueueFull {
                limit_bytes: 200,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn hooks_transform_outgoing_and_filter_incoming() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let seen_tx = seen_tx.clone();
        async move {
            c.send(json!({"type": "rate_limits.updated", "event_id": "e0", "rate_limits": []}))
                .await;
            c.session_created().await;
            while let Some(ev) = c.recv().await {
                seen_tx.send(ev).unwrap();
            }
        }
    })
    .await;
    let opts = options(&server)
        .on_outgoing(|ev| match ev {
            ClientEvent::ResponseCreate(mut r) => {
                r.event_id = Some("client_1".into());
                Some(ClientEvent::ResponseCreate(r))
            }
            ClientEvent::InputAudioBufferClear(_) => None,
            other => Some(other),
        })
        .on_incoming(|ev| (!matches!(ev, ServerEvent::RateLimitsUpdated(_))).then_some(ev));
    let (tx, mut rx) = connect(opts).await.unwrap();
    assert!(
        matches!(next(&mut rx).await, Some(ServerEvent::SessionCreated(_))),
        "rate limits filtered out"
    );
    tx.send(vivavoce::realtime::events::InputAudioBufferClear::default())
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(
        seen.recv().await.unwrap(),
        json!({"type": "response.create", "event_id": "client_1"})
    );
}

#[tokio::test]
async fn call_id_and_extra_headers_reach_the_server() {
    let (uri_tx, mut uri_rx) = mpsc::unbounded_channel();
    let server = Server::start(move |c: Conn| {
        let uri_tx = uri_tx.clone();
        async move { uri_tx.send(c.uri.clone()).unwrap() }
    })
    .await;
    let (_tx, _rx) = connect(options(&server).call_id("rtc_abc").header("X-Extra", "1"))
        .await
        .unwrap();
    assert_eq!(uri_rx.recv().await.unwrap(), "/v1/realtime?call_id=rtc_abc");
}

#[tokio::test]
async fn invalid_options_fail_before_io() {
    let err = connect(
        vivavoce::realtime::ConnectOptions::default()
            .api_key(KEY)
            .base_url("http://x"),
    )
    .await;
    assert!(matches!(
        err,
        Err(Error::InvalidOption {
            option: "base_url",
            ..
        })
    ));
    let server = Server::start(|_c: Conn| async {}).await;
    let err = connect(options(&server).header("bad header", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "headers",
                ..
            }
        ),
        "{err:?}"
    );
    let _ = Session::default();
    // Programs written before `realtime::events` still build.
    let _: vivavoce::realtime::ClientEvent = vivavoce::realtime::ResponseCreate::default().into();
}
