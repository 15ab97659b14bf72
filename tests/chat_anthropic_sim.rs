//! Anthropic's Messages API against the simulator's own rendering of it (`/v1/messages`,
//! `x-api-key`): text, a tool call, usage, stop reasons, a whole message, status errors,
//! faults mid-stream and a router retry, over real HTTP on 127.0.0.1.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, run_options};

use std::time::Duration;

use serde_json::{Value, json};
use vivavoce::ErrorKind;
use vivavoce::chat::{
    ChatConfig, ChatEvent, ChatOptions, ChatRouter, CompleteReason, EnvLookup, FinishReason,
    Provider, RetryPolicy, Wire, collect,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

/// The simulator's key.
const SIM_KEY: &str = "sk-simulator";
const REPLY: &str = "Paris is the capital of France.";

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options.reply_text(REPLY))
        .await
        .unwrap()
}

fn options(sim: &ChatSimulator, key: &str) -> ChatOptions {
    let messages = vec![
        json!({"role": "system", "content": "Be brief."}),
        json!({"role": "user", "content": "Capital of France?"}),
    ];
    ChatOptions::new("claude-sonnet-4-5", messages)
        .wire(Wire::Anthropic)
        .url(format!("http://{}/v1/messages", sim.addr()))
        .api_key(key)
}

async fn run(sim: &ChatSimulator) -> Run {
    run_options(options(sim, SIM_KEY), 8).await
}

#[tokio::test]
async fn text_with_usage_and_end_turn() {
    let s = sim(ChatSimulatorOptions::default()).await;
    let r = run(&s).await;
    let a = r.done();
    assert_eq!(a.content, REPLY);
    assert_eq!(r.texts(), REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.role.as_deref(), Some("assistant"));
    assert!(a.id.as_deref().is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(a.model.as_deref(), Some("claude-sonnet-4-5"));
    let words = REPLY.split(' ').count() as u64;
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, words, 12 + words)
    );
    let names: Vec<&str> = r.chunks.iter().filter_map(|c| c.event.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert!(names.contains(&"ping"), "{names:?}");
    let ChatEvent::Complete(c) = &r.end else {
        unreachable!()
    };
    let stop = c.done_event.as_ref().expect("message_stop ends it");
    assert_eq!(stop.event.as_deref(), Some("message_stop"));
    assert_eq!(s.streams_finished(), 1);
}

#[tokio::test]
async fn a_tool_call_pieced_from_input_json_deltas() {
    let args = r#"{"city":"Paris","unit":"celsius"}"#;
    let s = sim(ChatSimulatorOptions::default().tool_call("get_weather", args)).await;
    let r = run(&s).await;
    let a = r.done();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.content, "");
    assert_eq!(a.tool_calls.len(), 1);
    let call = &a.tool_calls[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("toolu_sim0001", "get_weather")
    );
    assert_eq!(call.arguments, args);
    let pieces = r
        .chunks
        .iter()
        .filter(|c| c.data.contains("input_json_delta"))
        .count();
    assert!(pieces > 1, "the arguments came in {pieces} pieces");
}

#[tokio::test]
async fn a_whole_message_when_not_streamed() {
    let s = sim(ChatSimulatorOptions::default()).await;
    let r = run_options(options(&s, SIM_KEY).stream(false), 8).await;
    let a = r.done();
    assert_eq!(a.content, REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert!(a.usage.as_ref().unwrap().total_tokens > 12);

    let args = r#"{"city":"Rome"}"#;
    let s = sim(ChatSimulatorOptions::default().tool_call("get_weather", args)).await;
    let r = run_options(options(&s, SIM_KEY).stream(false), 8).await;
    let a = r.done();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.tool_calls[0].arguments, args);
}

#[tokio::test]
async fn status_errors_have_kinds_and_retry_hints() {
    let cases = [
        (ChatFault::Status(401), 401, ErrorKind::Auth, false),
        (ChatFault::Status(429), 429, ErrorKind::RateLimited, true),
        (ChatFault::Status(529), 529, ErrorKind::Server, true),
        (
            ChatFault::QuotaExceeded,
            429,
            ErrorKind::QuotaExceeded,
            false,
        ),
    ];
    for (fault, status, kind, retryable) in cases {
        let s = sim(ChatSimulatorOptions::default().fault(fault.clone())).await;
        let r = run(&s).await;
        let e = &r.failed().error;
        assert_eq!(e.status(), Some(status), "{fault:?}");
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (kind, retryable),
            "{fault:?}: {e}"
        );
        let api = e.api_error().expect("Anthropic's error body is read");
        assert!(api.kind.ends_with("_error"), "{api}");
        let wait = (status == 429 && retryable).then_some(Duration::from_secs(1));
        assert_eq!(e.retry_after(), wait, "{fault:?}");
    }
    // A wrong key: 401, and the key is never shown.
    let s = sim(ChatSimulatorOptions::default()).await;
    let secret = "sk-ant-wrong-secret";
    let r = run_options(options(&s, secret), 8).await;
    let e = &r.failed().error;
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.api_error().unwrap().kind, "authentication_error");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(secret), "{shown}");
}

#[tokio::test]
async fn an_error_event_mid_stream_keeps_the_text_so_far() {
    // message_start, content_block_start, ping, then the first two words.
    let s = sim(ChatSimulatorOptions::default().fault(ChatFault::ErrorAfterChunks(5))).await;
    let r = run(&s).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "Paris is ");
    assert_eq!(r.texts(), "Paris is ");
    assert_eq!(e.error.status(), Some(200));
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    assert_eq!(e.error.api_error().unwrap().kind, "overloaded_error");
    assert_eq!(r.chunks.last().unwrap().event.as_deref(), Some("error"));
}

#[tokio::test]
async fn a_drop_and_a_malformed_event_end_the_request_keeping_the_text() {
    let s = sim(ChatSimulatorOptions::default().fault(ChatFault::DropAfterChunks(4))).await;
    let r = run(&s).await;
    let ChatEvent::Complete(c) = &r.end else {
        panic!("expected the end of the body, got {:?}", r.end);
    };
    assert_eq!(c.reason, CompleteReason::Eof, "no message_stop came");
    assert_eq!(c.result.content, "Paris ");
    assert_eq!(c.result.finish_reason, None);

    let s = sim(ChatSimulatorOptions::default()
        .chunked(true)
        .fault(ChatFault::DropAfterChunks(4)))
    .await;
    let r = run(&s).await;
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert_eq!(e.partial.content, "Paris ");

    let s = sim(ChatSimulatorOptions::default().fault(ChatFault::MalformedChunk(4))).await;
    let r = run(&s).await;
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Parse, "{}", e.error);
    assert_eq!(e.partial.content, "Paris ");
}

#[tokio::test]
async fn the_router_retries_an_overloaded_529_then_succeeds() {
    let s = sim(ChatSimulatorOptions::default().faults(vec![ChatFault::Status(529)])).await;
    let no_env: EnvLookup = std::sync::Arc::new(|_| None);
    let policy =
        RetryPolicy::default().backoff_range(Duration::from_millis(10), Duration::from_millis(50));
    let mut router = ChatRouter::with_env(no_env).retry_policy(policy.max_attempts(2));
    let claude = ChatConfig::new(Provider::Anthropic, "claude-sonnet-4-5")
        .base_url(format!("http://{}/v1", s.addr()))
        .api_key(SIM_KEY);
    router.register("claude", claude);
    let messages = vec![json!({"role": "user", "content": "Capital of France?"})];
    let done = collect(router.stream("claude", messages).unwrap())
        .await
        .expect("the retry answers");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(s.requests(), 2, "one 529, one answer");
}

#[tokio::test]
async fn refusal_redacted_thinking_and_citations_from_the_docs() {
    let s = ChatSimulator::start(
        ChatSimulatorOptions::default().raw_stream(fixture!("anthropic_citations_refusal.sse")),
    )
    .await
    .unwrap();
    let r = run(&s).await;
    let a = r.done();
    assert_eq!(a.content, "the grass is green");
    assert_eq!(a.reasoning, "", "redacted thinking has no text");
    assert_eq!(a.finish(), Some(FinishReason::ContentFilter));
    assert_eq!(a.finish_reason.as_deref(), Some("content_filter"));
    assert_eq!(a.usage.as_ref().unwrap().cached_tokens(), Some(512));
    // What has no place in a delta is in the chunks' raw data, to send back.
    let redacted = r
        .chunks
        .iter()
        .find(|c| c.data.contains("redacted_thinking"));
    let block: Value = serde_json::from_str(&redacted.unwrap().data).unwrap();
    assert!(
        block["content_block"]["data"]
            .as_str()
            .unwrap()
            .starts_with("EmwK")
    );
    assert!(r.chunks.iter().any(|c| c.data.contains("citations_delta")));
}

#[tokio::test]
async fn a_thinking_blocks_signature_is_recoverable_from_its_chunk() {
    let s = ChatSimulator::start(
        ChatSimulatorOptions::default().raw_stream(fixture!("anthropic_thinking.sse")),
    )
    .await
    .unwrap();
    let r = run(&s).await;
    let a = r.done();
    let signature = r
        .chunks
        .iter()
        .filter_map(|c| serde_json::from_str::<Value>(&c.data).ok())
        .find_map(|v| {
            v.pointer("/delta/signature")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .expect("the signature_delta is delivered");
    assert!(signature.starts_with("EqQB"), "{signature}");
    // The next turn sends the block back in Anthropic's shape, untouched.
    let mut messages = vec![json!({"role": "user", "content": "27 * 453?"})];
    messages.push(json!({"role": "assistant", "content": [
        {"type": "thinking", "thinking": a.reasoning, "signature": signature},
        {"type": "text", "text": a.content}
    ]}));
    messages.push(json!({"role": "user", "content": "And doubled?"}));
    let echo = sim(ChatSimulatorOptions::default().echo_user(true)).await;
    let next = ChatOptions::new("claude-sonnet-4-5", messages)
        .wire(Wire::Anthropic)
        .url(format!("http://{}/v1/messages", echo.addr()))
        .api_key(SIM_KEY);
    let r = run_options(next, 8).await;
    assert!(
        r.done()
            .content
            .starts_with("(user message 2) You said: \"And doubled?\""),
        "{}",
        r.done().content
    );
}
