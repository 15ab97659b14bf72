//! Ollama's native chat API (`/api/chat`, newline-delimited JSON) through the same
//! engine over real HTTP: the streams in `tests/fixtures/chat/ollama_*.ndjson` are
//! written by hand from Ollama's documented examples (docs/api.md, its streaming tool
//! call announcement), served byte for byte by the simulator; the simulator's own Ollama
//! answers and faults; the request as sent, seen by a tiny server here.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, http_answer, run_options, serve_once};

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

const KEY: &str = "sk-ollama-proxy-secret";
const REPLY: &str = "one two three four five";

fn messages() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": "You are terse."}),
        json!({"role": "user", "content": "Hello"}),
    ]
}

fn options(addr: SocketAddr) -> ChatOptions {
    ChatOptions::new("llama3.2", messages())
        .wire(Wire::Ollama)
        .url(format!("http://{addr}/api/chat"))
}

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

/// Serves `body` from the simulator at `/api/chat` and streams one request from it.
async fn run(body: &str) -> Run {
    let s = sim(ChatSimulatorOptions::default().raw_stream(body)).await;
    run_options(options(s.addr()), 8).await
}

/// The result of a request that completed at the `done: true` line, kept as the end.
fn done(r: &Run) -> &Accumulated {
    let a = r.done();
    let ChatEvent::Complete(c) = &r.end else {
        unreachable!()
    };
    let last = c.done_event.as_ref().expect("the done line kept");
    assert!(last.data.contains("\"done\":true"), "{}", last.data);
    a
}

#[tokio::test]
async fn text_lines_and_the_done_lines_counts() {
    let r = run(fixture!("ollama_text.ndjson")).await;
    let a = done(&r);
    assert_eq!(a.content, "The sky is blue.");
    assert_eq!(r.texts(), a.content);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.role.as_deref(), Some("assistant"));
    assert_eq!(a.model.as_deref(), Some("llama3.2"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (26, 282, 308)
    );
    assert_eq!(u.extra["total_duration"], 4_883_583_458_u64);
    assert_eq!(u.extra["eval_duration"], 4_535_599_000_u64);
    assert_eq!(
        r.chunks.len(),
        5,
        "every line is a chunk, the done line too"
    );
    assert!(r.chunks[0].data.starts_with("{\"model\":\"llama3.2\""));
}

#[tokio::test]
async fn whole_tool_calls_get_an_index_and_an_id_each() {
    let r = run(fixture!("ollama_tool_call.ndjson")).await;
    let a = done(&r);
    assert_eq!(a.content, "Let me check.");
    assert_eq!(
        a.finish(),
        Some(FinishReason::ToolCalls),
        "done_reason stop"
    );
    assert_eq!(a.tool_calls.len(), 2);
    for (i, (call, city)) in a
        .tool_calls
        .iter()
        .zip(["Toronto", "Paris, FR"])
        .enumerate()
    {
        assert_eq!(call.index as usize, i);
        assert_eq!(call.id, format!("call_{i}"));
        assert_eq!(call.name, "get_current_weather");
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args, json!({"format": "celsius", "location": city}));
    }
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 155);
}

#[tokio::test]
async fn thinking_crlf_blank_lines_and_an_unterminated_last_line() {
    let r = run(fixture!("ollama_thinking_length.ndjson")).await;
    let a = done(&r);
    assert_eq!(a.reasoning, "Counting the r's in strawberry…");
    assert_eq!(a.content, "There are 3 \u{201c}r\u{201d}s — ünïcödé");
    assert_eq!(r.reasoning(), a.reasoning);
    assert_eq!(r.texts(), a.content);
    assert_eq!(a.finish(), Some(FinishReason::Length));
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 14);
}

#[tokio::test]
async fn an_error_line_ends_the_request_keeping_the_text() {
    let r = run(fixture!("ollama_midstream_error.ndjson")).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "The first part of the answer");
    let api = e.error.api_error().expect("the error line is read");
    assert_eq!(
        api.message,
        "an error was encountered while running the model: unexpected EOF"
    );
    assert!(r.chunks.last().unwrap().data.starts_with("{\"error\""));
}

#[tokio::test]
async fn the_simulator_streams_ollamas_lines() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_options(options(s.addr()), 8).await;
    let a = done(&r);
    assert_eq!(a.content, REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    let u = a.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (12, 5));
    assert!(u.extra["eval_duration"].as_u64().unwrap() > 0);
    assert_eq!(r.chunks.len(), 6, "a line per word and the done line");
    assert_eq!(s.streams_finished(), 1);

    let s = sim(ChatSimulatorOptions::default().tool_call("weather", r#"{"city":"Paris"}"#)).await;
    let a = done(&run_options(options(s.addr()), 8).await).clone();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    let call = &a.tool_calls[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("call_0", "weather")
    );
    assert_eq!(call.arguments, r#"{"city":"Paris"}"#);
}

#[tokio::test]
async fn a_whole_answer_when_not_streamed() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_options(options(s.addr()).stream(false), 8).await;
    let a = r.done();
    assert_eq!(a.content, REPLY);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 17);
    assert_eq!(r.chunks.len(), 1);
    assert_eq!(s.streams_finished(), 0, "answered whole");

    let s = sim(ChatSimulatorOptions::default().tool_call("weather", r#"{"city":"Rome"}"#)).await;
    let r = run_options(options(s.addr()).stream(false), 8).await;
    let a = r.done();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.tool_calls[0].arguments, r#"{"city":"Rome"}"#);
}

#[tokio::test]
async fn status_errors_are_typed() {
    for (status, want) in [
        (401, ErrorKind::Auth),
        (429, ErrorKind::RateLimited),
        (500, ErrorKind::Server),
        (503, ErrorKind::Server),
    ] {
        let s = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(status))).await;
        let r = run_options(options(s.addr()).api_key(KEY), 8).await;
        let e = r.failed();
        assert_eq!(e.error.kind(), want, "{status}");
        assert_eq!(e.error.is_retryable(), status != 401, "{status}");
        let api = e
            .error
            .api_error()
            .expect("Ollama's {\"error\": text} is read");
        assert!(!api.message.is_empty(), "{status}");
        assert_eq!(
            e.error.retry_after(),
            (status == 429).then(|| Duration::from_secs(1)),
            "{status}"
        );
        let shown = format!("{} {:?} {e}", e.error, e.error);
        assert!(!shown.contains(KEY), "the key is never shown: {shown}");
        assert!(shown.contains(&status.to_string()), "{shown}");
    }
}

#[tokio::test]
async fn an_error_mid_stream_keeps_the_partial_text() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::ErrorAfterChunks(2)))
    .await;
    let r = run_options(options(s.addr()), 8).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "one two ");
    assert!(
        e.error
            .api_error()
            .unwrap()
            .message
            .contains("unexpected EOF")
    );
}

#[tokio::test]
async fn a_drop_ends_at_eof_keeping_the_text() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::DropAfterChunks(3)))
    .await;
    let r = run_options(options(s.addr()), 8).await;
    match &r.end {
        ChatEvent::Complete(c) => {
            assert_eq!(c.reason, CompleteReason::Eof, "no done line came");
            assert_eq!(c.result.content, "one two three ");
            assert_eq!(c.result.finish_reason, None);
        }
        other => panic!("expected Eof, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_line_is_a_typed_error_naming_the_chunk() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::MalformedChunk(1)))
    .await;
    let r = run_options(options(s.addr()), 8).await;
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(e.error.to_string().contains("chunk 2"), "{}", e.error);
    assert_eq!(e.partial.content, "one ");
}

fn answer(status: &str, body: &str) -> String {
    http_answer(status, "application/x-ndjson", body)
}

#[tokio::test]
async fn the_request_is_ollamas_shape_with_no_key() {
    let (addr, seen) = serve_once(answer("200 OK", fixture!("ollama_text.ndjson"))).await;
    let no_env: EnvLookup = Arc::new(|_| None);
    let options = ChatConfig::new(Provider::Ollama, "llama3.2")
        .base_url(format!("http://{addr}"))
        .options(messages(), &no_env)
        .unwrap()
        .param("max_tokens", json!(64))
        .param("temperature", json!(0.1))
        .param("keep_alive", json!("10m"));
    done(&run_options(options, 8).await);
    let (head, body) = seen.await.unwrap();
    assert!(head.starts_with("post /api/chat "), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(!head.contains("authorization"), "no key: {head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"model": "llama3.2", "stream": true, "messages": messages(),
            "options": {"num_predict": 64, "temperature": 0.1}, "keep_alive": "10m"})
    );
}

#[tokio::test]
async fn a_given_key_goes_as_a_bearer_token_and_is_never_shown() {
    let (addr, seen) = serve_once(answer(
        "404 Not Found",
        r#"{"error":"model \"nope\" not found, try pulling it first"}"#,
    ))
    .await;
    let options = options(addr).api_key(KEY).stream(false);
    let debug = format!("{options:?}");
    assert!(!debug.contains(KEY), "{debug}");
    let r = run_options(options, 8).await;
    let e = r.failed();
    assert_eq!(e.error.kind(), ErrorKind::NotFound);
    let api = e.error.api_error().unwrap();
    assert_eq!(
        api.message,
        "model \"nope\" not found, try pulling it first"
    );
    let shown = format!("{} {:?}", e.error, e.error);
    assert!(!shown.contains(KEY), "{shown}");
    let (head, body) = seen.await.unwrap();
    assert!(head.contains(&format!("authorization: bearer {}", KEY.to_lowercase())));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["stream"],
        false
    );
}

#[tokio::test]
async fn the_router_retries_a_429_then_falls_back_before_the_first_token() {
    let no_env: EnvLookup = Arc::new(|_| None);
    let policy = RetryPolicy::default()
        .max_attempts(2)
        .backoff_range(Duration::from_millis(10), Duration::from_millis(50));
    let local = |addr: SocketAddr| {
        ChatConfig::new(Provider::Ollama, "llama3.2").base_url(format!("http://{addr}"))
    };

    let busy = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .faults(vec![ChatFault::Status(429)]))
    .await;
    let mut router = ChatRouter::with_env(no_env.clone()).retry_policy(policy.clone());
    router.register("local", local(busy.addr()));
    let done = collect(router.stream(["local"], messages()).unwrap())
        .await
        .expect("answered on the retry");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(busy.requests(), 2, "the 429, then the answer");

    let broken = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(503))).await;
    let backup = sim(ChatSimulatorOptions::default().reply_text("from the backup")).await;
    let mut router = ChatRouter::with_env(no_env).retry_policy(policy);
    router.register("local", local(broken.addr()));
    router.register("backup", local(backup.addr()));
    let done = collect(router.stream(["local", "backup"], messages()).unwrap())
        .await
        .expect("the backup answers");
    assert_eq!(done.result.content, "from the backup");
    assert_eq!(broken.requests(), 2, "retried, then left");
    assert_eq!(backup.requests(), 1);
}
