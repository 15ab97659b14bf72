//! The router and retries against hostile servers: a hostile first config falls back to
//! a good second one only before the first content, and the retry policy's timeout (with
//! each attempt's `http_timeout`) bounds the whole.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;
mod hostile_http_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hostile_http_support::{After, Hostile, answer, assert_no_key, chunk, hostile, send, sse_head};
use tokio::time::Instant;
use vivavoce::ErrorKind;
use vivavoce::chat::{
    ChatConfig, ChatEvent, ChatRouter, ChatStream, Provider, RetryPolicy, message,
};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

const REPLY: &str = "one two three four";

fn config(addr: SocketAddr, key: &str) -> ChatConfig {
    let provider = Provider::Custom {
        base_url: format!("http://{addr}/v1"),
        key_var: None,
    };
    ChatConfig::new(provider, "gpt-4o-mini").api_key(key)
}

/// A router over a hostile `bad` and the simulator as `good`, retrying fast.
fn router(bad: &Hostile, good: &ChatSimulator, policy: RetryPolicy) -> ChatRouter {
    let mut router = ChatRouter::with_env(Arc::new(|_| None))
        .retry_policy(policy)
        .adjust(|o| o.http_timeout(Duration::from_millis(500)));
    router.register("bad", config(bad.addr, hostile_http_support::KEY));
    router.register("good", config(good.addr(), "sk-simulator"));
    router
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(2)
        .backoff_range(Duration::from_millis(10), Duration::from_millis(20))
}

/// The stream's text and its terminal event, which never shows the key.
async fn drain(events: ChatStream) -> (String, ChatEvent) {
    let (text, end) = chat_support::drain(events).await;
    assert_no_key(&end);
    (text, end)
}

async fn good() -> ChatSimulator {
    ChatSimulator::start(ChatSimulatorOptions::default().reply_text(REPLY))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hostile_first_config_falls_back_before_content() {
    let closes = hostile(|_s| async { After::Closed }).await;
    let stalls = hostile(|mut s| async move {
        send(&mut s, "HTTP/1.1 200 OK\r\n").await;
        After::AwaitClose(s)
    })
    .await;
    let page = hostile(|mut s| async move {
        let html = answer(
            "502 Bad Gateway",
            &["content-type: text/html"],
            "<h1>502</h1>",
        );
        send(&mut s, html).await;
        After::Closed
    })
    .await;
    // A role chunk and keep-alives, then a reset: nothing of the answer came yet.
    let resets = hostile(|mut s| async move {
        let role = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        send(&mut s, sse_head() + role + "\n\n: ping\n\n").await;
        s.set_zero_linger().unwrap();
        After::Closed
    })
    .await;
    for bad in [&closes, &stalls, &page, &resets] {
        let good = good().await;
        let events = router(bad, &good, fast()).stream(["bad", "good"], vec![message::user("Hi")]);
        let (text, end) = drain(events.unwrap()).await;
        assert!(matches!(end, ChatEvent::Complete(_)), "{end:?}");
        assert_eq!(text, REPLY, "the second config's answer, once");
        assert_eq!(bad.accepted(), 2, "the first config was tried twice");
        assert_eq!(good.requests(), 1);
    }
    assert!(
        stalls.closed_by_client(2).await,
        "stalled attempts are dropped"
    );
}

#[tokio::test]
async fn after_content_a_hostile_server_error_is_final() {
    let bad = hostile(|mut s| async move {
        send(&mut s, sse_head() + &chunk("Hel") + &chunk("lo")).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        s.set_zero_linger().unwrap();
        After::Closed
    })
    .await;
    let good = good().await;
    let events = router(&bad, &good, fast()).stream(["bad", "good"], vec![message::user("Hi")]);
    let (text, end) = drain(events.unwrap()).await;
    let ChatEvent::Error(e) = &end else {
        panic!("expected an error, got {end:?}")
    };
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert_eq!(
        (text.as_str(), e.partial.content.as_str()),
        ("Hello", "Hello")
    );
    assert_eq!(bad.accepted(), 1, "not retried after content");
    assert_eq!(good.requests(), 0, "no fallback after content");
}

#[tokio::test]
async fn the_retry_timeout_bounds_endless_failures_and_stalls() {
    // Each refusal takes 300 ms, so the deadline falls inside an attempt: the request
    // still ends with the server's error, not a bare timeout.
    let busy = hostile(|mut s| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let json = r#"{"error":{"message":"busy","type":"server_error"}}"#;
        let headers = ["content-type: application/json", "retry-after: 0"];
        send(&mut s, answer("503 Service Unavailable", &headers, json)).await;
        After::Closed
    })
    .await;
    let stalls = hostile(|mut s| async move {
        send(&mut s, sse_head() + ": thinking\n\n").await;
        After::AwaitClose(s)
    })
    .await;
    let policy = RetryPolicy::default()
        .max_attempts(1000)
        .backoff_range(Duration::from_millis(10), Duration::from_millis(20))
        .timeout(Duration::from_secs(1));
    for (bad, kind) in [(&busy, ErrorKind::Server), (&stalls, ErrorKind::Timeout)] {
        let good = good().await;
        let started = Instant::now();
        // One config only: the timeout, not a fallback, ends it.
        let events = router(bad, &good, policy.clone()).stream("bad", vec![message::user("Hi")]);
        let (text, end) = drain(events.unwrap()).await;
        let took = started.elapsed();
        let ChatEvent::Error(e) = &end else {
            panic!("expected an error, got {end:?}")
        };
        assert_eq!(e.error.kind(), kind, "{}", e.error);
        assert!(text.is_empty());
        // The last attempt may begin just before the limit and runs to its own end
        // (`http_timeout`, 500 ms).
        assert!(took < Duration::from_millis(2500), "{took:?}");
        assert!(bad.accepted() >= 2, "retried meanwhile: {}", bad.accepted());
    }
}
