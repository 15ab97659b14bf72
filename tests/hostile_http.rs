//! The chat engine against hostile and faulty HTTP servers: each case ends in a typed
//! error or a documented end, keeps what was received, and never hangs (every wait is
//! bounded: the engine's own `http_timeout` or `channel_idle_timeout` where a stall is
//! the case, and `run_options`' 30 s limit around all of it). The server is raw TCP on
//! 127.0.0.1 (`hostile_http_support`). Limits (a 50 MB event, memory, threads, backpressure)
//! are in `hostile_http_limits.rs`.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;
mod hostile_http_support;

use std::time::Duration;

use chat_support::{fixture, run_options};
use hostile_http_support::{
    After, Hostile, answer, assert_no_key, chunk, head, hostile, send, sse_head,
};
use vivavoce::ErrorKind;
use vivavoce::chat::{ChatError, ChatEvent, Complete, CompleteReason, Wire};

fn error(end: &ChatEvent) -> &ChatError {
    assert_no_key(end);
    match end {
        ChatEvent::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn completed(end: &ChatEvent) -> &Complete {
    assert_no_key(end);
    match end {
        ChatEvent::Complete(c) => c,
        other => panic!("expected Complete, got {other:?}"),
    }
}

/// A server writing `bytes` on each connection, then closing it.
async fn writes(bytes: String) -> Hostile {
    hostile(move |mut s| {
        let bytes = bytes.clone();
        async move {
            send(&mut s, bytes).await;
            After::Closed
        }
    })
    .await
}

/// A server writing `bytes`, then waiting (writing nothing) until the client leaves.
async fn writes_then_stalls(bytes: String) -> Hostile {
    hostile(move |mut s| {
        let bytes = bytes.clone();
        async move {
            send(&mut s, bytes).await;
            After::AwaitClose(s)
        }
    })
    .await
}

#[tokio::test]
async fn a_connection_closed_before_any_response_is_a_connection_error() {
    let h = hostile(|_s| async { After::Closed }).await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert!(e.error.is_retryable());
    assert!(r.chunks.is_empty() && e.partial.content.is_empty());
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_by_either_timeout() {
    let stall = || writes_then_stalls("HTTP/1.1 200 OK\r\ncontent-type: text/eve".to_owned());
    // `http_timeout` bounds the whole request: a typed timeout.
    let h = stall().await;
    let r = run_options(h.options().http_timeout(Duration::from_millis(300)), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Timeout, "{}", e.error);
    assert!(h.closed_by_client(1).await, "the connection is dropped");
    // `channel_idle_timeout` alone: nothing was delivered for that long.
    let h = stall().await;
    let r = run_options(
        h.options().channel_idle_timeout(Duration::from_millis(300)),
        8,
    )
    .await;
    assert_eq!(completed(&r.end).reason, CompleteReason::Timeout);
    assert!(h.closed_by_client(1).await, "the connection is dropped");
}

#[tokio::test]
async fn a_body_stalled_mid_event_times_out_keeping_the_text() {
    let body = sse_head() + &chunk("Hello") + &chunk(" world") + "data: {\"choi";
    let h = writes_then_stalls(body).await;
    let options = h.options().channel_idle_timeout(Duration::from_millis(300));
    let r = run_options(options, 8).await;
    let c = completed(&r.end);
    assert_eq!(c.reason, CompleteReason::Timeout);
    assert_eq!(c.result.content, "Hello world");
    assert_eq!(r.texts(), "Hello world");
    assert!(h.closed_by_client(1).await, "the connection is dropped");
}

#[tokio::test]
async fn a_reset_or_a_broken_chunk_mid_body_is_a_connection_error_keeping_the_text() {
    let events = chunk("Hello") + &chunk(" world");
    let framed = format!("{:x}\r\n{events}\r\n", events.len());
    let chunked = head(
        "200 OK",
        &[
            "content-type: text/event-stream",
            "transfer-encoding: chunked",
        ],
    );
    // A chunk announced as 256 bytes, 20 of them sent, then a TCP reset.
    let reset = hostile({
        let first = chunked.clone() + &framed + "100\r\ndata: {\"choices\":[";
        move |mut s| {
            let first = first.clone();
            async move {
                send(&mut s, first).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                s.set_zero_linger().unwrap();
                drop(s);
                After::Closed
            }
        }
    })
    .await;
    // A chunk size that is not hexadecimal.
    let broken = writes(chunked + &framed + "zz\r\nnonsense\r\n").await;
    for h in [reset, broken] {
        let r = run_options(h.options(), 8).await;
        let e = error(&r.end);
        assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
        assert_eq!(e.partial.content, "Hello world");
        assert_eq!(r.texts(), "Hello world");
    }
}

#[tokio::test]
async fn endless_keep_alives_without_data_end_at_the_idle_timeout() {
    let h = hostile(|mut s| async move {
        send(&mut s, sse_head()).await;
        loop {
            if !send(&mut s, ": keep-alive\n\nevent: ping\n\n").await {
                return After::PeerGone;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let options = h.options().channel_idle_timeout(Duration::from_millis(300));
    let r = run_options(options, 8).await;
    let c = completed(&r.end);
    assert_eq!(c.reason, CompleteReason::Timeout);
    assert!(r.chunks.is_empty() && c.result.content.is_empty());
    assert!(
        h.closed_by_client(1).await,
        "the server's writes fail once dropped"
    );
}

#[tokio::test]
async fn invalid_utf8_in_data_is_decoded_lossily() {
    // Documented choice: text is decoded with U+FFFD for bytes that are not UTF-8, so
    // one bad byte costs a character, not the answer.
    let mut body = sse_head().into_bytes();
    body.extend_from_slice(chunk("caf").as_bytes());
    let bad = chunk("é!").replace('é', "\u{1}");
    let at = bad.find('\u{1}').unwrap();
    body.extend_from_slice(&bad.as_bytes()[..at]);
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(&bad.as_bytes()[at + 1..]);
    body.extend_from_slice(b"data: [DONE]\n\n");
    let h = hostile(move |mut s| {
        let body = body.clone();
        async move {
            send(&mut s, body).await;
            After::Closed
        }
    })
    .await;
    let r = run_options(h.options(), 8).await;
    assert_eq!(r.done().content, "caf\u{FFFD}\u{FFFD}!");
}

#[tokio::test]
async fn an_html_page_is_an_error_with_its_excerpt_at_200_and_at_5xx() {
    let page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
                <body><h1>Bad Gateway</h1><p>nginx</p></body></html>";
    // A proxy's page with status 200: not an event stream, not silently empty.
    let h = writes(answer(
        "200 OK",
        &["content-type: text/html; charset=utf-8"],
        page,
    ))
    .await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Parse, "{}", e.error);
    let text = e.error.to_string();
    assert!(
        text.contains("text/html") && text.contains("Bad Gateway"),
        "{text}"
    );
    // Its whole, non-streamed answer too.
    let r = run_options(h.options().stream(false), 8).await;
    let text = error(&r.end).error.to_string();
    assert!(text.contains("Bad Gateway"), "{text}");
    // The same page with a 5xx: the HTTP error, with the page as its body.
    for status in [
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "529 Overloaded",
    ] {
        let h = writes(answer(status, &["content-type: text/html"], page)).await;
        let r = run_options(h.options(), 8).await;
        let e = error(&r.end);
        assert_eq!(e.error.status(), status[..3].parse().ok());
        assert_eq!(e.error.kind(), ErrorKind::Server);
        assert!(e.error.is_retryable());
        assert!(e.error.api_error().is_none());
        assert!(e.error.to_string().contains("Bad Gateway"));
    }
}

#[tokio::test]
async fn json_error_answers_give_their_kinds_and_waits() {
    let body = |kind: &str| {
        format!(r#"{{"error":{{"message":"nope","type":"{kind}","code":null,"param":null}}}}"#)
    };
    let in_90s = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
    let in_90s = format!("retry-after: {in_90s}");
    // Status, a header, the kind, and the wait in seconds (at least, at most).
    type Case<'a> = (&'a str, &'a str, ErrorKind, Option<(u64, u64)>);
    let cases: &[Case] = &[
        ("401 Unauthorized", "", ErrorKind::Auth, None),
        ("403 Forbidden", "", ErrorKind::Permission, None),
        ("404 Not Found", "", ErrorKind::NotFound, None),
        (
            "429 Too Many Requests",
            "retry-after: 7",
            ErrorKind::RateLimited,
            Some((7, 7)),
        ),
        (
            "429 Too Many Requests",
            &in_90s,
            ErrorKind::RateLimited,
            Some((80, 90)),
        ),
        ("500 Internal Server Error", "", ErrorKind::Server, None),
        ("502 Bad Gateway", "", ErrorKind::Server, None),
        (
            "503 Service Unavailable",
            "retry-after: 0",
            ErrorKind::Server,
            Some((0, 0)),
        ),
        ("529 Overloaded", "", ErrorKind::Server, None),
    ];
    for (status, header, kind, wait) in cases {
        let headers: Vec<&str> = ["content-type: application/json", header]
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect();
        let h = writes(answer(status, &headers, &body("some_error"))).await;
        let r = run_options(h.options(), 8).await;
        let e = error(&r.end);
        assert_eq!(e.error.kind(), *kind, "{status}");
        assert_eq!(e.error.api_error().unwrap().message, "nope");
        let got = e.error.retry_after().map(|d| d.as_secs());
        match wait {
            Some((low, high)) => assert!(got.is_some_and(|g| g >= *low && g <= *high), "{got:?}"),
            None => assert_eq!(got, None),
        }
    }
}

#[tokio::test]
async fn a_huge_retry_after_saturates_and_is_not_waited_for() {
    let policy = vivavoce::chat::RetryPolicy::default().max_attempts(5);
    for huge in ["99999999999999999999999", "1e300", "inf"] {
        let header = format!("retry-after: {huge}");
        let h = writes(answer("429 Too Many Requests", &[&header], "slow down")).await;
        let started = tokio::time::Instant::now();
        let events = vivavoce::chat::stream_with_retry(h.options(), policy.clone()).unwrap();
        let mut events = std::pin::pin!(events);
        let end = loop {
            use futures_util::StreamExt;
            let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("not waited for")
                .expect("a terminal event");
            if !matches!(ev, ChatEvent::Chunk(_)) {
                break ev;
            }
        };
        let e = error(&end);
        assert_eq!(e.error.retry_after(), Some(Duration::MAX), "{huge}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(h.accepted(), 1, "more than max_retry_after: not retried");
    }
}

#[tokio::test]
async fn a_lying_content_length_cuts_or_fails_keeping_the_text() {
    // Shorter than the body: what it counts is the body, ending inside the second event.
    let events = chunk("Hello") + &chunk(" world");
    let cut = chunk("Hello").len() + 10;
    let length = format!("content-length: {cut}");
    let h = writes(head("200 OK", &["content-type: text/event-stream", &length]) + &events).await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(e.error.to_string().contains("chunk 2"), "{}", e.error);
    assert_eq!(e.partial.content, "Hello");
    // Longer than the body: the connection ends before it all came.
    let h = writes(
        head(
            "200 OK",
            &["content-type: text/event-stream", "content-length: 4096"],
        ) + &events,
    )
    .await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert_eq!(e.partial.content, "Hello world");
}

#[tokio::test]
async fn a_body_claimed_as_gzip_is_refused_not_read_as_events() {
    // The client does not ask for compression and cannot decode it.
    let garbage = "data: \u{1f}\u{8b} not gzip at all\n\n".to_owned() + &chunk("x");
    let h = writes(answer(
        "200 OK",
        &["content-type: text/event-stream", "content-encoding: gzip"],
        &garbage,
    ))
    .await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(e.error.to_string().contains("gzip"), "{}", e.error);
    assert!(r.chunks.is_empty());
}

#[tokio::test]
async fn a_redirect_loop_ends_at_the_client_limit() {
    let h = hostile(|mut s| async move {
        let me = format!("http://{}/v1/chat/completions", s.local_addr().unwrap());
        let location = format!("location: {me}");
        send(&mut s, answer("307 Temporary Redirect", &[&location], "")).await;
        After::Closed
    })
    .await;
    let r = run_options(h.options(), 8).await;
    let e = error(&r.end);
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert!(e.error.to_string().contains("redirect"), "{}", e.error);
    assert!((2..=11).contains(&h.accepted()), "{}", h.accepted());
}

/// A provider's stream (one of its fixtures), split into its events, with the framing
/// that separates them.
struct WireCase {
    wire: Wire,
    content_type: &'static str,
    events: Vec<String>,
    separator: &'static str,
    /// Events whole before the cut, and the text they add up to.
    whole: usize,
    text: &'static str,
}

fn wire_cases() -> Vec<WireCase> {
    let split = |text: &str, sep: &str| -> Vec<String> {
        let text = text.replace("\r\n", "\n");
        let events = text.split(sep).filter(|e| !e.trim().is_empty());
        events
            .map(|e| format!("{}{sep}", e.trim_end_matches('\n')))
            .collect()
    };
    let sse = |wire, text: &str, whole, expect| WireCase {
        wire,
        content_type: "text/event-stream",
        events: split(text, "\n\n"),
        separator: "\n\n",
        whole,
        text: expect,
    };
    vec![
        sse(
            Wire::Anthropic,
            fixture!("anthropic_text.sse"),
            5,
            "Hello! How can I",
        ),
        sse(
            Wire::Gemini,
            fixture!("gemini_text.sse"),
            2,
            "The sky is blue because of Rayleigh scattering: air scatters short",
        ),
        sse(
            Wire::Responses,
            fixture!("responses_text.sse"),
            6,
            "Hi there! How can I",
        ),
        WireCase {
            wire: Wire::Ollama,
            content_type: "application/x-ndjson",
            events: split(fixture!("ollama_text.ndjson"), "\n"),
            separator: "\n",
            whole: 3,
            text: "The sky is",
        },
    ]
}

#[tokio::test]
async fn every_wire_cut_mid_event_or_sent_garbage_names_the_chunk_keeping_the_text() {
    for case in wire_cases() {
        let start: String = case.events[..case.whole].concat();
        let next = &case.events[case.whole];
        // Cut inside the next event's JSON.
        let cut = start.clone() + &next[..next.len() - 20];
        // A garbage event in its place, then the rest.
        let garbage = match case.separator {
            "\n" => "<<not json>>\n".to_owned(),
            _ => "event: content_block_delta\ndata: <<not json>>\n\n".to_owned(),
        };
        let bad = start.clone() + &garbage + &case.events[case.whole..].concat();
        for (what, body) in [("cut", cut), ("garbage", bad)] {
            let type_header = format!("content-type: {}", case.content_type);
            let h = writes(head("200 OK", &[&type_header, "connection: close"]) + &body).await;
            let r = run_options(h.options().wire(case.wire), 8).await;
            let e = error(&r.end);
            let name = format!("{:?} {what}", case.wire);
            assert_eq!(e.error.kind(), ErrorKind::Parse, "{name}: {}", e.error);
            let chunk = format!("chunk {}", case.whole + 1);
            assert!(e.error.to_string().contains(&chunk), "{name}: {}", e.error);
            assert_eq!(e.partial.content, case.text, "{name}");
            assert_eq!(r.texts(), case.text, "{name}");
        }
    }
}
