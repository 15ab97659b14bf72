//! The chat engine against the Chat Completions simulator, over real HTTP on 127.0.0.1.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use std::time::Duration;

use chat_support::drain;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use vivavoce::Error;
use vivavoce::chat::{
    Backpressure, ChatEvent, ChatOptions, Complete, CompleteReason, OnParseError, start_request,
    stream,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

const REPLY: &str = "Bonjour ! Ça va très bien, merci — et vous ? 😀";

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

fn options(sim: &ChatSimulator) -> ChatOptions {
    ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Hello"})],
    )
    .url(sim.url())
    .api_key("sk-simulator")
}

/// Runs a request to the end; returns the chunks' texts and the terminal event.
async fn run(options: ChatOptions, capacity: usize) -> (Vec<String>, ChatEvent) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let _stop = start_request(options, tx).unwrap();
    let mut texts = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .expect("a terminal event");
        match ev {
            ChatEvent::Chunk(c) => texts.extend(c.text().map(str::to_owned)),
            terminal => {
                assert!(
                    rx.recv().await.is_none(),
                    "the channel closes after the terminal event"
                );
                return (texts, terminal);
            }
        }
    }
}

fn complete(ev: ChatEvent) -> Complete {
    match ev {
        ChatEvent::Complete(c) => *c,
        other => panic!("expected Complete, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_is_delivered_and_accumulated() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let (texts, end) = run(options(&s).include_usage(true), 16).await;
    let c = complete(end);
    assert_eq!(c.reason, CompleteReason::Done);
    assert_eq!(texts.concat(), REPLY);
    assert_eq!(c.result.content, REPLY);
    assert_eq!(c.result.role.as_deref(), Some("assistant"));
    assert_eq!(c.result.finish_reason.as_deref(), Some("stop"));
    assert!(
        c.result.usage.as_ref().is_some_and(|u| u.total_tokens > 0),
        "{:?}",
        c.result.usage
    );
    assert!(c.done_event.is_some_and(|d| d.done && d.data == "[DONE]"));
}

#[tokio::test]
async fn tool_calls_comments_and_split_utf8() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .tool_call("get_weather", r#"{"city":"Paris","unit":"celsius"}"#)
        .comments(true)
        .split_writes(true))
    .await;
    let (_, end) = run(options(&s), 4).await;
    let c = complete(end);
    assert_eq!(c.result.tool_calls.len(), 1);
    let call = &c.result.tool_calls[0];
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.arguments, r#"{"city":"Paris","unit":"celsius"}"#);
    assert!(!call.id.is_empty());
}

#[tokio::test]
async fn utf8_split_across_writes_arrives_whole_in_both_framings() {
    for chunked in [false, true] {
        let s = sim(ChatSimulatorOptions::default()
            .reply_text(REPLY)
            .comments(true)
            .split_writes(true)
            .chunked(chunked))
        .await;
        let (texts, end) = run(options(&s).include_usage(true), 4).await;
        let c = complete(end);
        assert_eq!(c.reason, CompleteReason::Done, "chunked {chunked}");
        assert_eq!(texts.concat(), REPLY, "chunked {chunked}");
        assert_eq!(c.result.content, REPLY);
        assert!(c.result.usage.is_some());
    }
}

#[tokio::test]
async fn a_broken_chunked_transfer_is_an_error_that_keeps_the_partial_content() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .chunked(true)
        .fault(ChatFault::DropAfterChunks(4)))
    .await;
    let (texts, end) = run(options(&s), 16).await;
    let ChatEvent::Error(e) = end else {
        panic!("expected an error, got {end:?}")
    };
    assert!(matches!(e.error, Error::Transport { .. }), "{:?}", e.error);
    assert!(!e.partial.content.is_empty() && REPLY.starts_with(&e.partial.content));
    assert_eq!(e.partial.content, texts.concat());
}

#[tokio::test]
async fn http_errors_carry_status_and_body() {
    for status in [401u16, 429, 500] {
        let s = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(status))).await;
        let (_, end) = run(options(&s), 4).await;
        let ChatEvent::Error(e) = end else {
            panic!("{status}: {end:?}")
        };
        match &e.error {
            Error::Http(h) => {
                assert_eq!(h.status, status);
                assert!(h.body.contains("\"error\""), "{}", h.body);
            }
            other => panic!("{other:?}"),
        }
        // The API's error object, parsed, and whether to try again.
        let api = e.error.api_error().expect("parsed error body");
        assert!(!api.message.is_empty() && !api.kind.is_empty(), "{api:?}");
        match status {
            401 => {
                assert_eq!(api.code.as_deref(), Some("invalid_api_key"));
                assert!(!e.error.is_retryable());
            }
            429 => {
                assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
                assert_eq!(e.error.retry_after(), Some(Duration::from_secs(1)));
                assert!(e.error.is_retryable());
            }
            _ => {
                assert_eq!(api.kind, "server_error");
                assert_eq!(e.error.retry_after(), None);
                assert!(e.error.is_retryable());
            }
        }
    }
    // A wrong key is the server's 401.
    let s = sim(ChatSimulatorOptions::default()).await;
    let (_, end) = run(options(&s).api_key("sk-wrong"), 4).await;
    assert!(matches!(end, ChatEvent::Error(e) if e.error.status() == Some(401)));
}

#[tokio::test]
async fn a_drop_mid_stream_keeps_the_partial_content() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::DropAfterChunks(4)))
    .await;
    let (texts, end) = run(options(&s), 16).await;
    let c = complete(end);
    assert_eq!(c.reason, CompleteReason::Eof);
    assert!(!c.result.content.is_empty() && REPLY.starts_with(&c.result.content));
    assert_eq!(c.result.content, texts.concat());
}

#[tokio::test]
async fn a_malformed_chunk_stops_or_is_skipped() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::MalformedChunk(3)))
    .await;
    let (_, end) = run(options(&s), 16).await;
    let ChatEvent::Error(e) = end else {
        panic!("{end:?}")
    };
    assert!(
        matches!(e.error, Error::InvalidResponse { ref message, .. }
            if message.ends_with("chunk 4 is not a valid chunk: key must be a string at line 1 column 2")),
        "{:?}",
        e.error
    );
    assert!(!e.partial.content.is_empty(), "what came before is kept");

    let (_, end) = run(options(&s).on_parse_error(OnParseError::Continue), 16).await;
    let c = complete(end);
    assert_eq!(c.reason, CompleteReason::Done);
    assert!(
        c.result.content.len() < REPLY.len(),
        "the malformed chunk's text is missing"
    );
}

#[tokio::test]
async fn stop_before_and_during_a_stream() {
    let s = sim(ChatSimulatorOptions::default()
        .chunk_count(200)
        .chunk_delay(Duration::from_millis(10)))
    .await;
    // Before anything arrived.
    let (tx, mut rx) = mpsc::channel(16);
    let stop = start_request(options(&s), tx).unwrap();
    stop.stop();
    let mut last = None;
    while let Some(ev) = rx.recv().await {
        last = Some(ev);
    }
    assert_eq!(complete(last.unwrap()).reason, CompleteReason::Stopped);
    // During: after some chunks, with the text so far.
    let (tx, mut rx) = mpsc::channel(16);
    let stop = start_request(options(&s), tx).unwrap();
    let mut text = String::new();
    let mut n = 0;
    let end = loop {
        match rx.recv().await.unwrap() {
            ChatEvent::Chunk(c) => {
                n += 1;
                text.push_str(c.text().unwrap_or_default());
                if n == 20 {
                    stop.stop();
                }
            }
            other => break other,
        }
    };
    let c = complete(end);
    assert_eq!(c.reason, CompleteReason::Stopped);
    assert_eq!(c.result.content, text);
    assert!(n < 60, "stopped promptly ({n} chunks)");
}

#[tokio::test]
async fn stop_cancels_a_non_streaming_request_in_flight() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let opts = ChatOptions::new("m", vec![json!({"role": "user", "content": "x"})])
        .url(url)
        .api_key("k")
        .stream(false);
    let (tx, mut rx) = mpsc::channel(4);
    let stop = start_request(opts, tx).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.stop();
    let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(complete(ev).reason, CompleteReason::Stopped);
}

#[tokio::test]
async fn idle_timeout_fires_and_keeps_the_content_and_not_when_unset() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::StallAfterChunks(3, Duration::from_millis(800))))
    .await;
    let (texts, end) = run(
        options(&s).channel_idle_timeout(Duration::from_millis(200)),
        16,
    )
    .await;
    let c = complete(end);
    assert_eq!(c.reason, CompleteReason::Timeout);
    assert_eq!(c.result.content, texts.concat());
    assert!(!c.result.content.is_empty());
    // Without the option the stall is waited out.
    let (_, end) = run(options(&s), 16).await;
    let c = complete(end);
    assert_eq!(
        (c.reason, c.result.content.as_str()),
        (CompleteReason::Done, REPLY)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_keeps_taking_events_slowly_does_not_time_out() {
    // 40 ms per event, an idle limit of 200 ms, a channel of 16: the request must hand
    // over each event as its slot frees (room for 8 at once would take 320 ms).
    let s = sim(ChatSimulatorOptions::default().chunk_count(40)).await;
    let (tx, mut rx) = mpsc::channel(16);
    let options = options(&s)
        .backpressure(Backpressure::Block)
        .channel_idle_timeout(Duration::from_millis(200));
    let _stop = start_request(options, tx).unwrap();
    let mut texts = 0;
    let end = loop {
        match rx.recv().await.expect("a terminal event") {
            ChatEvent::Chunk(c) => {
                texts += usize::from(c.text().is_some_and(|t| !t.is_empty()));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            end => break complete(end),
        }
    };
    assert_eq!((end.reason, texts), (CompleteReason::Done, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_gets_10000_events_in_order_in_both_modes() {
    let s = sim(ChatSimulatorOptions::default().chunk_count(10_000)).await;
    for mode in [
        Backpressure::Block,
        Backpressure::Queue { capacity: 20_000 },
    ] {
        let (tx, mut rx) = mpsc::channel(1);
        let _stop = start_request(options(&s).backpressure(mode), tx).unwrap();
        let mut seen = 0usize;
        let mut expected_text = String::new();
        loop {
            match rx.recv().await.unwrap() {
                ChatEvent::Chunk(c) => {
                    expected_text.push_str(c.text().unwrap_or_default());
                    seen += 1;
                    if seen.is_multiple_of(1000) {
                        tokio::time::sleep(Duration::from_millis(20)).await; // slow
                    }
                }
                end => {
                    let c = complete(end);
                    assert_eq!(c.result.content, expected_text, "{mode:?}: in order");
                    break;
                }
            }
        }
        assert!(seen >= 10_000, "{mode:?}: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_nobody_reads_holds_the_server_back_then_yields_everything_in_order() {
    // 100,000 chunks are about 15 MB: far more than the stream holds (512 events, 1 MiB)
    // plus what the sockets buffer, so while nobody reads, the server cannot finish.
    const N: usize = 100_000;
    let s = sim(ChatSimulatorOptions::default().chunk_count(N)).await;
    let events = stream(options(&s)).unwrap();
    // Nothing read for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.streams_finished(),
        0,
        "the request read on without a reader"
    );
    let (text, end) = drain(events).await;
    let done = complete(end);
    assert_eq!(done.reason, CompleteReason::Done);
    assert!(!text.is_empty());
    assert_eq!(done.result.content, text, "every chunk, in order");
    // (The server counts the stream after its last write returns.)
    let t0 = std::time::Instant::now();
    while s.streams_finished() == 0 && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(s.streams_finished(), 1);
}

#[tokio::test]
async fn a_full_queue_ends_the_request_with_a_clear_error() {
    let s = sim(ChatSimulatorOptions::default().chunk_count(2_000)).await;
    let (tx, mut rx) = mpsc::channel(1);
    let _stop = start_request(
        options(&s).backpressure(Backpressure::Queue { capacity: 10 }),
        tx,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // nobody reads
    let mut last = None;
    while let Some(ev) = rx.recv().await {
        last = Some(ev);
    }
    let Some(ChatEvent::Error(e)) = last else {
        panic!("{last:?}")
    };
    assert!(
        matches!(e.error, Error::ConsumerTooSlow { queued: 10 }),
        "{}",
        e.error
    );
}

#[tokio::test]
async fn non_streaming_and_the_pull_api() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let (_, end) = run(options(&s).stream(false), 4).await;
    assert_eq!(complete(end).result.content, REPLY);
    let mut events = stream(options(&s)).unwrap();
    let mut last = None;
    while let Some(ev) = events.next().await {
        last = Some(ev);
    }
    assert_eq!(complete(last.unwrap()).result.content, REPLY);
}

#[tokio::test]
async fn bad_requests_fail_before_any_io() {
    let no_messages = ChatOptions::new("m", vec![])
        .api_key("k")
        .url("http://127.0.0.1:9/");
    let (tx, _rx) = mpsc::channel(1);
    assert!(matches!(
        start_request(no_messages, tx),
        Err(Error::InvalidOption {
            option: "messages",
            ..
        })
    ));
    let no_key = ChatOptions::new("m", vec![json!({"role": "user", "content": "x"})]).auth(
        vivavoce::chat::ChatAuth::KeyFn(std::sync::Arc::new(|| None)),
    );
    let (tx, _rx) = mpsc::channel(1);
    assert!(matches!(
        start_request(no_key, tx),
        Err(Error::MissingApiKey)
    ));
    let dbg = format!("{:?}", ChatOptions::default().api_key("sk-secret-123"));
    assert!(!dbg.contains("sk-secret-123"), "{dbg}");
}

#[tokio::test]
async fn the_pull_api_always_streams_and_streaming_is_the_default() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let words = REPLY.split_inclusive(' ').count();
    // `stream()` asks for SSE even when the options say otherwise: the simulator answers a
    // request without `"stream": true` with one whole completion (one chunk, no `[DONE]`).
    let mut events = stream(options(&s).stream(false)).unwrap();
    let (mut chunks, mut last) = (0, None);
    while let Some(ev) = events.next().await {
        match ev {
            ChatEvent::Chunk(_) => chunks += 1,
            terminal => last = Some(terminal),
        }
    }
    let c = complete(last.expect("a terminal event"));
    assert!(chunks > words, "streamed chunk by chunk: {chunks} chunks");
    assert_eq!(
        (c.reason, c.result.content.as_str()),
        (CompleteReason::Done, REPLY)
    );
    assert!(c.done_event.is_some(), "a streamed answer ends with [DONE]");

    // Options that do not say: streamed, through `start_request` too.
    let default = ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Hi"})],
    )
    .url(s.url())
    .api_key("sk-simulator");
    assert!(default.stream);
    let (texts, end) = run(default, 16).await;
    let pieces = texts.iter().filter(|t| !t.is_empty()).count();
    assert_eq!(
        (pieces, texts.concat().as_str()),
        (words, REPLY),
        "one chunk per word"
    );
    assert!(complete(end).done_event.is_some());
}

#[tokio::test]
async fn the_pull_api_is_a_fused_stream() {
    use futures_util::stream::FusedStream;

    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let mut events = stream(options(&s)).unwrap();
    assert!(!events.is_terminated());
    let mut terminal = None;
    while terminal.is_none() {
        match events.next().await.expect("events until the terminal one") {
            ChatEvent::Chunk(_) => assert!(!events.is_terminated()),
            end => terminal = Some(end),
        }
    }
    // The terminal event is not the end of the stream: `None` is.
    assert!(!events.is_terminated());
    assert_eq!(complete(terminal.unwrap()).result.content, REPLY);
    assert!(events.next().await.is_none());
    assert!(events.is_terminated());
    // Polled again, it ends again at once; `select_next_some` (which needs a fused
    // stream) takes it as done.
    assert!(events.next().await.is_none());
    let mut skipped = false;
    futures_util::select! {
        _ = events.select_next_some() => {}
        complete => skipped = true,
    }
    assert!(skipped, "a terminated stream is skipped by select!");
}

#[tokio::test]
async fn the_longest_timeouts_work_and_zero_ones_are_refused() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    for streamed in [true, false] {
        let huge = options(&s)
            .stream(streamed)
            .channel_idle_timeout(Duration::MAX)
            .http_timeout(Duration::MAX);
        let (texts, end) = run(huge, 16).await;
        let c = complete(end);
        assert_eq!(c.reason, CompleteReason::Done, "streamed {streamed}");
        assert_eq!(
            (texts.concat(), c.result.content),
            (REPLY.into(), REPLY.into())
        );
    }
    // Through the pull API as well.
    let huge = options(&s)
        .channel_idle_timeout(Duration::MAX)
        .http_timeout(Duration::MAX);
    let last = stream(huge).unwrap().collect::<Vec<_>>().await.pop();
    assert_eq!(complete(last.unwrap()).result.content, REPLY);

    // A zero timeout would end every request at once: refused before any I/O.
    for (name, zero) in [
        (
            "channel_idle_timeout",
            options(&s).channel_idle_timeout(Duration::ZERO),
        ),
        ("http_timeout", options(&s).http_timeout(Duration::ZERO)),
    ] {
        let (tx, _rx) = mpsc::channel(1);
        match start_request(zero.clone(), tx) {
            Err(Error::InvalidOption { option, message }) => {
                assert_eq!(option, name);
                assert!(message.contains("zero"), "{message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(matches!(stream(zero), Err(Error::InvalidOption { option, .. }) if option == name));
    }
}

#[tokio::test]
async fn complete_returns_the_whole_answer_or_the_error_with_what_came_first() {
    use vivavoce::chat::{complete, message};
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let own_client = reqwest::Client::new();
    let answer = complete(options(&s).http_client(own_client).param(
        "messages",
        json!([message::system("Be brief."), message::user("Hi")]),
    ))
    .await
    .unwrap();
    assert_eq!(answer.result.content, REPLY);
    assert_eq!(answer.reason, vivavoce::chat::CompleteReason::Done);

    // A failure mid-stream keeps the text so far, and converts into the crate's error.
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .chunked(true)
        .fault(ChatFault::DropAfterChunks(4)))
    .await;
    let err = complete(options(&s)).await.unwrap_err();
    assert!(!err.partial.content.is_empty() && REPLY.starts_with(&err.partial.content));
    assert!(
        err.to_string().contains("characters of the answer"),
        "{err}"
    );
    let err: Error = err.into();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");

    let s = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(429))).await;
    let err = complete(options(&s)).await.unwrap_err();
    assert_eq!(err.error.status(), Some(429));
    assert!(err.error.is_retryable());
}
