//! The Realtime handshake refused by a hostile server (401, 403, 429 with `Retry-After`,
//! 500), at connect and while reconnecting; a session that expires; and the plain-text
//! URLs that are refused before any I/O. Each case runs on its own runtime with a time
//! limit and leaves no task or thread behind (`hostile_support::run`).

mod hostile_support;

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use hostile_support::{Hostile, Incoming, KEY, run, within};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{
    ClientSecretOptions, ConnectOptions, EventReceiver, ReconnectPolicy, ServerEvent, connect,
    create_client_secret,
};
use vivavoce::{Error, ErrorKind};

const WAIT: Duration = Duration::from_secs(10);

async fn next(rx: &mut EventReceiver) -> Option<ServerEvent> {
    within(WAIT, "an event", rx.recv()).await
}

/// The API's error body, as OpenAI documents it (`error.type`, `code`, `message`,
/// `param`); `message` quotes the key, as a careless or hostile server might.
fn api_body(kind: &str, code: &str) -> String {
    serde_json::json!({"error": {"type": kind, "code": code, "param": null,
        "message": format!("refused for key {KEY}")}})
    .to_string()
}

#[test]
fn refused_handshakes_are_typed_http_errors_without_the_key() {
    run(Duration::from_secs(30), async {
        type Case = (
            u16,
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static str,
        );
        let cases: [(Case, ErrorKind, bool); 4] = [
            (
                (401, &[], "invalid_request_error", "invalid_api_key"),
                ErrorKind::Auth,
                false,
            ),
            (
                (
                    403,
                    &[],
                    "invalid_request_error",
                    "unsupported_country_region_territory",
                ),
                ErrorKind::Permission,
                false,
            ),
            (
                (
                    429,
                    &[("retry-after", "7")],
                    "requests",
                    "rate_limit_exceeded",
                ),
                ErrorKind::RateLimited,
                true,
            ),
            (
                (500, &[], "server_error", "server_error"),
                ErrorKind::Server,
                true,
            ),
        ];
        for ((status, headers, kind, code), error_kind, retryable) in cases {
            let body = api_body(kind, code);
            let server = Hostile::start(move |i: Incoming| {
                let body = body.clone();
                async move { i.refuse(status, headers, &body).await }
            })
            .await;
            let err = within(WAIT, "connect", connect(server.options()))
                .await
                .unwrap_err();
            let http = err.http().unwrap_or_else(|| panic!("{status}: {err:?}"));
            assert_eq!(http.status, status);
            assert!(
                http.url.ends_with("/v1/realtime?model=gpt-realtime"),
                "{}",
                http.url
            );
            let api = err.api_error().expect("the body's error object");
            assert_eq!(api.code.as_deref(), Some(code));
            assert_eq!(api.kind, kind);
            assert_eq!(err.kind(), error_kind, "{status}");
            assert_eq!(err.is_retryable(), retryable, "{status}");
            if status == 429 {
                assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
            }
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(KEY), "{status}: the key leaked: {shown}");
            assert!(shown.contains("refused for key <redacted>"), "{shown}");
            assert_eq!(server.handshakes(), 1, "{status}: connect does not retry");
        }
    });
}

/// A refusal whose body comes in a later TCP segment than its head (a proxy flushing its
/// headers first, a server streaming its error): the body is still read, to its
/// `Content-Length` or its last chunk, and the API's error in it parsed.
#[test]
fn a_refusal_body_that_arrives_after_its_head_is_read_whole() {
    run(Duration::from_secs(30), async {
        for chunked in [false, true] {
            let body = api_body("invalid_request_error", "invalid_api_key");
            let server = Hostile::start(move |mut i: Incoming| {
                let body = body.clone();
                async move {
                    let framing = if chunked {
                        "transfer-encoding: chunked".to_owned()
                    } else {
                        format!("content-length: {}", body.len())
                    };
                    let head = format!(
                        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
                    );
                    let _ = i.stream.write_all(head.as_bytes()).await;
                    let _ = i.stream.flush().await;
                    // Two more segments, each well after the last.
                    let (a, b) = body.split_at(body.len() / 2);
                    for part in [a, b] {
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        let part = if chunked {
                            format!("{:x}\r\n{part}\r\n", part.len())
                        } else {
                            part.to_owned()
                        };
                        let _ = i.stream.write_all(part.as_bytes()).await;
                    }
                    if chunked {
                        let _ = i.stream.write_all(b"0\r\n\r\n").await;
                    }
                    // Held open: the body's framing, not the connection's end, says it is whole.
                    std::future::pending::<()>().await;
                }
            })
            .await;
            let err = within(WAIT, "connect", connect(server.options()))
                .await
                .unwrap_err();
            let http = err.http().unwrap_or_else(|| panic!("{err:?}"));
            assert_eq!(http.status, 401, "chunked: {chunked}");
            let api = err
                .api_error()
                .unwrap_or_else(|| panic!("chunked: {chunked}: no API error in {err:?}"));
            assert_eq!(api.code.as_deref(), Some("invalid_api_key"));
            assert_eq!(err.kind(), ErrorKind::Auth);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(KEY), "the key leaked: {shown}");
        }
    });
}

#[test]
fn broken_handshake_answers_are_connect_errors() {
    run(Duration::from_secs(30), async {
        let endless = |mut i: Incoming| async move {
            let _ = i
                .stream
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\n")
                .await;
            let line = format!("x-pad: {}\r\n", "y".repeat(1000));
            while i.stream.write_all(line.as_bytes()).await.is_ok() {}
        };
        let wrong_accept = |mut i: Incoming| async move {
            let answer = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n";
            let _ = i.stream.write_all(answer.as_bytes()).await;
            std::future::pending::<()>().await;
        };
        let not_http = |mut i: Incoming| async move {
            let _ = i.stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
            std::future::pending::<()>().await;
        };
        let cases: [(&str, Hostile); 3] = [
            ("an endless head", Hostile::start(endless).await),
            (
                "a wrong Sec-WebSocket-Accept",
                Hostile::start(wrong_accept).await,
            ),
            ("not HTTP at all", Hostile::start(not_http).await),
        ];
        for (what, server) in cases {
            let err = within(WAIT, what, connect(server.options()))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Connect { .. }), "{what}: {err:?}");
            assert!(
                err.to_string().contains(&server.addr.to_string()),
                "{what}: {err}"
            );
        }
    });
}

/// A server whose first connection is lost with 1011, then refuses every handshake with
/// `status` (and `headers`).
async fn lost_then_refused(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> Hostile {
    Hostile::start(move |i: Incoming| async move {
        if i.index > 0 {
            return i
                .refuse(status, headers, &api_body("requests", "refused"))
                .await;
        }
        let mut peer = i.accept().await;
        peer.session_created().await;
        peer.close(1011, "internal error").await;
        peer.until_closed().await;
    })
    .await
}

async fn reconnect_failure(rx: &mut EventReceiver) -> (u32, Error) {
    assert!(matches!(
        next(rx).await,
        Some(ServerEvent::SessionCreated(_))
    ));
    assert!(matches!(next(rx).await, Some(ServerEvent::Disconnected(d)) if d.will_reconnect));
    let failure = match next(rx).await {
        Some(ServerEvent::Disconnected(d)) if !d.will_reconnect => match d.error {
            Error::ReconnectFailed { attempts, last } => (attempts, *last),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(next(rx).await.is_none(), "the receiver ends");
    failure
}

#[test]
fn reconnecting_waits_out_retry_after_and_stops_at_a_refused_key() {
    run(Duration::from_secs(30), async {
        // 429 with Retry-After: 1 s: each attempt waits at least that long, whatever the
        // policy's backoff; the attempts stop at max_attempts.
        let server = lost_then_refused(429, &[("retry-after", "1")]).await;
        let policy = ReconnectPolicy::default()
            .initial_backoff(Duration::from_millis(5))
            .max_backoff(Duration::from_millis(20))
            .max_attempts(3);
        let (_tx, mut rx) = connect(server.options().reconnect(Some(policy)))
            .await
            .unwrap();
        let (attempts, last) = reconnect_failure(&mut rx).await;
        assert_eq!(attempts, 3);
        assert_eq!(last.status(), Some(429));
        assert_eq!(last.kind(), ErrorKind::RateLimited);
        let times = server.handshakes.lock().unwrap().clone();
        assert_eq!(times.len(), 4, "the first connection and three attempts");
        for pair in times[1..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_millis(950),
                "an attempt came {gap:?} after a 429 asking for 1 s"
            );
        }

        // 401: the key is refused; without a reconnect hook that ends reconnecting at once.
        let server = lost_then_refused(401, &[]).await;
        let policy = ReconnectPolicy::default()
            .initial_backoff(Duration::from_millis(5))
            .max_attempts(5);
        let (_tx, mut rx) = connect(server.options().reconnect(Some(policy)))
            .await
            .unwrap();
        let (attempts, last) = reconnect_failure(&mut rx).await;
        assert_eq!((attempts, last.status()), (1, Some(401)));
        assert_eq!(last.kind(), ErrorKind::Auth);
        assert!(!format!("{last} {last:?}").contains(KEY));
        assert_eq!(server.handshakes(), 2, "no reconnect storm");

        // 500: retried with the policy's backoff, at most max_attempts times.
        let server = lost_then_refused(500, &[]).await;
        let policy = ReconnectPolicy::default()
            .initial_backoff(Duration::from_millis(5))
            .max_attempts(3);
        let (_tx, mut rx) = connect(server.options().reconnect(Some(policy)))
            .await
            .unwrap();
        let (attempts, last) = reconnect_failure(&mut rx).await;
        assert_eq!((attempts, last.kind()), (3, ErrorKind::Server));
        assert_eq!(server.handshakes(), 4);
    });
}

#[test]
fn an_expired_session_is_reported_and_final() {
    run(WAIT, async {
        let options = SimulatorOptions::default().session_expires_after(Duration::from_millis(300));
        let simulator = RealtimeSimulator::start(options).await.unwrap();
        let policy = ReconnectPolicy::default().initial_backoff(Duration::from_millis(5));
        let (tx, mut rx) = connect(simulator.connect_options().reconnect(Some(policy)))
            .await
            .unwrap();
        assert!(matches!(
            next(&mut rx).await,
            Some(ServerEvent::SessionCreated(_))
        ));
        match next(&mut rx).await {
            Some(ServerEvent::ErrorEvent(e)) => {
                assert_eq!(e.error.code.as_deref(), Some("session_expired"));
            }
            other => panic!("{other:?}"),
        }
        // Closed with 1000: not recoverable, even with a reconnect policy. A new session
        // is the app's choice (`connect` again).
        match next(&mut rx).await {
            Some(ServerEvent::Disconnected(d)) => {
                assert_eq!(d.close_code, Some(1000));
                assert!(!d.will_reconnect);
            }
            other => panic!("{other:?}"),
        }
        assert!(next(&mut rx).await.is_none());
        drop(tx);
        drop(simulator);
    });
}

#[test]
fn plain_urls_reach_only_this_machine_unless_allowed() {
    run(WAIT, async {
        for url in [
            "ws://api.example.com/v1/realtime",
            "ws://10.0.0.7:8080/v1/realtime",
            "ws://127.0.0.1.example.com/v1/realtime",
        ] {
            let options = ConnectOptions::default().api_key(KEY).base_url(url);
            let err = connect(options).await.unwrap_err();
            match &err {
                Error::InvalidOption {
                    option: "base_url",
                    message,
                } => {
                    assert!(
                        message.contains(url) && message.contains("allow_insecure"),
                        "{message}"
                    );
                }
                other => panic!("{url}: {other:?}"),
            }
            let exact = ConnectOptions::default().api_key(KEY).exact_url(url);
            let err = connect(exact).await.unwrap_err();
            assert!(
                matches!(err, Error::InvalidOption { option: "url", .. }),
                "{err:?}"
            );
        }
        let azure = ConnectOptions::azure("http://my-resource.example.com", "dep").api_key(KEY);
        assert!(matches!(
            connect(azure).await,
            Err(Error::InvalidOption { .. })
        ));
        let secret = ClientSecretOptions::default()
            .api_key(KEY)
            .base_url("http://api.example.com/v1");
        let err = create_client_secret(secret).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "base_url",
                    ..
                }
            ),
            "{err:?}"
        );

        // Allowed: the connection is tried (to TEST-NET-1, RFC 5737, which nothing
        // answers: unreachable at once, or the connect timeout).
        let options = ConnectOptions::default()
            .api_key(KEY)
            .base_url("ws://192.0.2.1:9/v1/realtime")
            .allow_insecure(true)
            .connect_timeout(Duration::from_millis(500));
        let err = connect(options).await.unwrap_err();
        assert!(
            matches!(err, Error::Connect { .. } | Error::Timeout { .. }),
            "{err:?}"
        );

        // The defaults are encrypted, and loopback needs no permission.
        assert!(ConnectOptions::default().url().starts_with("wss://"));
        assert!(
            ClientSecretOptions::default()
                .base_url
                .starts_with("https://")
        );
        let server = Hostile::start(|i: Incoming| async move {
            let mut peer = i.accept().await;
            peer.session_created().await;
            peer.until_closed().await;
        })
        .await;
        let (tx, mut rx) = connect(server.options()).await.unwrap();
        assert!(matches!(
            next(&mut rx).await,
            Some(ServerEvent::SessionCreated(_))
        ));
        drop(tx);
        assert!(next(&mut rx).await.is_none());
    });
}
