//! OpenAI's Responses API through the same engine over real HTTP: the streams in
//! `tests/fixtures/chat/responses_*.sse` are written by hand from OpenAI's documented
//! stream events, served byte for byte by the simulator; the simulator also speaks the
//! Responses API itself at `/v1/responses` (text, tool calls, faults), and a tiny server
//! here shows the request as sent.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, run_options, serve_once};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vivavoce::ErrorKind;
use vivavoce::chat::{
    Accumulated, ChatConfig, ChatEvent, ChatOptions, ChatRouter, CompleteReason, EnvLookup,
    FinishReason, Provider, RetryPolicy, Wire, collect,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

/// The simulator's key (it checks the bearer token at `/v1/responses`).
const SIM_KEY: &str = "sk-simulator";
const KEY: &str = "sk-proj-responses-test-secret";
const REPLY: &str = "one two three four five six";
// The simulator's text stream: `response.created`, `response.in_progress`,
// `response.output_item.added`, `response.content_part.added`, then one
// `response.output_text.delta` per word (events 4, 5, …), the `.done`s and
// `response.completed`.

/// The result of a request that completed at `response.completed` (or `.incomplete`).
fn done<'a>(r: &'a Run, last: &str) -> &'a Accumulated {
    let a = r.done();
    let ChatEvent::Complete(c) = &r.end else {
        unreachable!()
    };
    let end = c.done_event.as_ref().expect("the last event is kept");
    assert_eq!(end.event.as_deref(), Some(last));
    let delivered = r.chunks.last().expect("delivered too");
    assert_eq!(delivered.event.as_deref(), Some(last));
    a
}

fn messages() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": "You are terse."}),
        json!({"role": "user", "content": "Hello"}),
    ]
}

fn options(addr: SocketAddr) -> ChatOptions {
    ChatOptions::new("gpt-4.1", messages())
        .wire(Wire::Responses)
        .url(format!("http://{addr}/v1/responses"))
        .api_key(SIM_KEY)
}

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

/// Serves `body` from the simulator and streams one request from it.
async fn run(body: &str) -> Run {
    let sim = sim(ChatSimulatorOptions::default().raw_stream(body)).await;
    run_options(options(sim.addr()), 8).await
}

#[tokio::test]
async fn text_deltas_and_the_completed_usage() {
    let r = run(fixture!("responses_text.sse")).await;
    let a = done(&r, "response.completed");
    assert_eq!(a.content, "Hi there! How can I assist you today?");
    assert_eq!(r.texts(), a.content, "the .done events add nothing");
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.role.as_deref(), Some("assistant"));
    assert_eq!(
        a.id.as_deref(),
        Some("resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654")
    );
    assert_eq!(a.model.as_deref(), Some("gpt-4.1-2025-04-14"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (37, 11, 48)
    );
    assert_eq!(
        (u.cached_tokens(), u.reasoning_tokens()),
        (Some(0), Some(0))
    );
    let names: Vec<&str> = r.chunks.iter().filter_map(|c| c.event.as_deref()).collect();
    assert_eq!(names.len(), r.chunks.len(), "every event is delivered");
    assert_eq!(names[0], "response.created");
}

#[tokio::test]
async fn a_function_call_s_argument_deltas_form_the_arguments() {
    let r = run(fixture!("responses_tool_call.sse")).await;
    let a = done(&r, "response.completed");
    assert_eq!(a.content, "");
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.tool_calls.len(), 1);
    let call = &a.tool_calls[0];
    assert_eq!(
        (call.index, call.id.as_str(), call.name.as_str()),
        (0, "call_DdmgdG7z2VsWXNA1Wl8kXQvm", "get_weather")
    );
    let args: Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(args, json!({"location": "Paris, France"}));
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 314);
}

#[tokio::test]
async fn reasoning_summaries_annotations_and_an_incomplete_end() {
    let r = run(fixture!("responses_reasoning_incomplete.sse")).await;
    let a = done(&r, "response.incomplete");
    assert_eq!(a.content, "Hello! See example.com — ünïcödé ✓");
    assert_eq!(
        a.reasoning,
        "**Responding to a greeting**\n\nThe user just said hello."
    );
    assert_eq!(r.reasoning(), a.reasoning);
    assert_eq!(a.finish(), Some(FinishReason::Length));
    assert_eq!(a.finish_reason.as_deref(), Some("length"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!((u.completion_tokens, u.reasoning_tokens()), (64, Some(52)));
}

#[tokio::test]
async fn a_failed_response_ends_the_request_keeping_the_text() {
    let r = run(fixture!("responses_failed.sse")).await;
    let e = r.failed();
    assert_eq!(
        e.partial.content,
        "In a shimmering forest under a sky full of stars"
    );
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    let api = e.error.api_error().expect("the error object is read");
    assert_eq!(api.code.as_deref(), Some("server_error"));
    assert_eq!(api.message, "The model failed to generate a response.");
    let last = r.chunks.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
}

#[tokio::test]
async fn the_simulator_streams_text_and_tool_calls_in_the_responses_shape() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_options(options(s.addr()), 4).await;
    let a = done(&r, "response.completed");
    assert_eq!(a.content, REPLY);
    assert_eq!(r.texts(), REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.model.as_deref(), Some("gpt-4.1"));
    assert!(a.id.as_deref().unwrap().starts_with("resp_"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 6, 18)
    );
    assert_eq!(u.cached_tokens(), Some(0));

    let args = r#"{"city":"Paris","unit":"celsius"}"#;
    let s = sim(ChatSimulatorOptions::default().tool_call("get_weather", args)).await;
    let r = run_options(options(s.addr()), 4).await;
    let a = done(&r, "response.completed");
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    let call = &a.tool_calls[0];
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("get_weather", args)
    );
    assert!(!call.id.is_empty());
    let pieces = r
        .chunks
        .iter()
        .filter(|c| c.event.as_deref() == Some("response.function_call_arguments.delta"));
    assert!(pieces.count() > 1, "the arguments come in pieces");
}

#[tokio::test]
async fn a_whole_response_when_not_streamed() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_options(options(s.addr()).stream(false), 4).await;
    let a = r.done();
    assert_eq!(a.content, REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 18);
    assert_eq!(r.chunks.len(), 1);

    let s = sim(ChatSimulatorOptions::default().tool_call("lookup", r#"{"q":"x"}"#)).await;
    let r = run_options(options(s.addr()).stream(false), 4).await;
    let a = r.done();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.tool_calls[0].arguments, r#"{"q":"x"}"#);
}

#[tokio::test]
async fn status_errors_are_typed() {
    let s = sim(ChatSimulatorOptions::default()).await;
    let wrong = options(s.addr()).api_key(KEY);
    let r = run_options(wrong, 4).await;
    let e = &r.failed().error;
    assert_eq!((e.kind(), e.status()), (ErrorKind::Auth, Some(401)));
    assert_eq!(
        e.api_error().unwrap().code.as_deref(),
        Some("invalid_api_key")
    );
    let shown = format!("{e} {e:?} {:?}", options(s.addr()).api_key(KEY));
    assert!(!shown.contains(KEY), "the key is never shown: {shown}");

    for (fault, kind) in [
        (ChatFault::Status(429), ErrorKind::RateLimited),
        (ChatFault::QuotaExceeded, ErrorKind::QuotaExceeded),
        (ChatFault::Status(500), ErrorKind::Server),
        (ChatFault::Status(503), ErrorKind::Server),
    ] {
        let s = sim(ChatSimulatorOptions::default().fault(fault.clone())).await;
        let r = run_options(options(s.addr()), 4).await;
        let e = &r.failed().error;
        assert_eq!(e.kind(), kind, "{fault:?}");
        let (retry, after) = match fault {
            ChatFault::Status(429) => (true, Some(Duration::from_secs(1))),
            ChatFault::QuotaExceeded => (false, None),
            _ => (true, None),
        };
        assert_eq!(
            (e.is_retryable(), e.retry_after()),
            (retry, after),
            "{fault:?}"
        );
        assert!(e.api_error().is_some(), "{fault:?}");
    }
}

#[tokio::test]
async fn an_error_event_mid_stream_keeps_the_text() {
    let faulty = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::ErrorAfterChunks(6));
    let s = sim(faulty).await;
    let r = run_options(options(s.addr()), 4).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "one two ", "two deltas came before it");
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    let api = e.error.api_error().unwrap();
    assert_eq!(api.code.as_deref(), Some("server_error"));
    assert_eq!(r.chunks.last().unwrap().event.as_deref(), Some("error"));
}

#[tokio::test]
async fn a_drop_is_an_early_end_keeping_the_text() {
    let dropping = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::DropAfterChunks(7));
    let s = sim(dropping).await;
    let r = run_options(options(s.addr()), 4).await;
    let ChatEvent::Complete(c) = &r.end else {
        panic!("expected an early end, got {:?}", r.end);
    };
    assert_eq!(c.reason, CompleteReason::Eof, "no response.completed came");
    assert_eq!(c.result.content, "one two three ");
    assert_eq!(c.result.finish_reason, None);
}

#[tokio::test]
async fn a_malformed_event_is_a_typed_error_naming_the_chunk() {
    let bad = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::MalformedChunk(5));
    let s = sim(bad).await;
    let r = run_options(options(s.addr()), 4).await;
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    let shown = e.error.to_string();
    assert!(shown.contains("chunk 6"), "{shown}");
    assert_eq!(e.partial.content, "one ");
}

#[tokio::test]
async fn the_request_is_the_responses_shape() {
    let sse = fixture!("responses_text.sse");
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sse}",
        sse.len()
    );
    let (addr, seen) = serve_once(answer).await;
    let env: EnvLookup = Arc::new(|var| (var == "OPENAI_API_KEY").then(|| KEY.to_owned()));
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object"}}}]);
    let config = ChatConfig::new(Provider::OpenAIResponses, "gpt-4.1")
        .base_url(format!("http://{addr}/v1"))
        .param("max_tokens", json!(200))
        .param("temperature", json!(0.5))
        .param("tools", tools);
    let options = config.options(messages(), &env).unwrap();
    assert!(!format!("{options:?} {config:?}").contains(KEY));
    let r = run_options(options, 8).await;
    done(&r, "response.completed");
    let (head, body) = seen.await.unwrap();
    assert!(head.starts_with("post /v1/responses "), "{head}");
    assert!(head.contains(&format!("authorization: bearer {}", KEY.to_lowercase())));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model"], "gpt-4.1");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["input"],
        json!([{"role": "developer", "content": "You are terse."},
            {"role": "user", "content": "Hello"}])
    );
    assert_eq!(body["max_output_tokens"], 200);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
    );
    for absent in ["messages", "max_tokens", "stream_options"] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
}

#[tokio::test]
async fn the_router_retries_a_429_then_falls_back_before_the_first_token() {
    let no_env: EnvLookup = Arc::new(|_| None);
    let fast =
        RetryPolicy::default().backoff_range(Duration::from_millis(10), Duration::from_millis(50));
    let responses = |addr: SocketAddr| {
        ChatConfig::new(Provider::OpenAIResponses, "gpt-4.1")
            .base_url(format!("http://{addr}/v1"))
            .api_key(SIM_KEY)
    };
    let limited = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .faults(vec![ChatFault::Status(429)]);
    let limited = sim(limited).await;
    let mut router = ChatRouter::with_env(no_env.clone()).retry_policy(fast.clone());
    router.register("responses", responses(limited.addr()));
    let stream = router.stream(["responses"], messages()).unwrap();
    let done = collect(stream).await.expect("the retry answers");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(
        limited.requests(),
        2,
        "one retry, after the 429's retry-after"
    );

    let broken = ChatSimulatorOptions::default().fault(ChatFault::Status(500));
    let broken = sim(broken).await;
    let backup = sim(ChatSimulatorOptions::default().reply_text("from the backup")).await;
    let mut router = ChatRouter::with_env(no_env).retry_policy(fast.max_attempts(1));
    router.register("responses", responses(broken.addr()));
    let chat = Provider::Custom {
        base_url: format!("http://{}/v1", backup.addr()),
        key_var: None,
    };
    router.register(
        "backup",
        ChatConfig::new(chat, "gpt-4o-mini").api_key(SIM_KEY),
    );
    let stream = router.stream(["responses", "backup"], messages()).unwrap();
    let done = collect(stream).await.expect("the backup answers");
    assert_eq!(done.result.content, "from the backup");
    assert_eq!((broken.requests(), backup.requests()), (1, 1));
}
