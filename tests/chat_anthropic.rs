//! Anthropic's Messages API through the same engine over real HTTP: the streams in
//! `tests/fixtures/chat/anthropic_*.sse` are written by hand from Anthropic's documented
//! stream examples, served byte for byte by the simulator (or, to see the request, by a
//! tiny server here), and must come out as the same events as Chat Completions.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, http_answer, run_options, serve_once};

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use vivavoce::ErrorKind;
use vivavoce::chat::{
    Accumulated, ChatConfig, ChatEvent, ChatOptions, FinishReason, Provider, Wire, start_request,
};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

const KEY: &str = "sk-ant-test-secret";
/// The simulator's key (it checks `x-api-key` at `/v1/messages`).
const SIM_KEY: &str = "sk-simulator";

/// The result of a request that completed at `message_stop`.
fn done(r: &Run) -> &Accumulated {
    let a = r.done();
    let ChatEvent::Complete(c) = &r.end else {
        unreachable!()
    };
    let stop = c.done_event.as_ref().expect("message_stop kept");
    assert_eq!(stop.event.as_deref(), Some("message_stop"));
    a
}

fn messages() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": "You are terse."}),
        json!({"role": "user", "content": "Hello"}),
    ]
}

/// Serves `body` from the simulator at `/v1/messages` and streams one request from it.
async fn run(body: &str) -> Run {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().raw_stream(body))
        .await
        .unwrap();
    let options = ChatOptions::new("claude-sonnet-4-5", messages())
        .wire(Wire::Anthropic)
        .url(format!("http://{}/v1/messages", sim.addr()))
        .api_key(SIM_KEY);
    run_options(options, 8).await
}

#[tokio::test]
async fn text_across_deltas_with_ping_and_usage() {
    let r = run(fixture!("anthropic_text.sse")).await;
    let a = done(&r);
    assert_eq!(a.content, "Hello! How can I help you today?");
    assert_eq!(r.texts(), a.content);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.finish_reason.as_deref(), Some("stop"));
    assert_eq!(a.role.as_deref(), Some("assistant"));
    assert_eq!(a.id.as_deref(), Some("msg_01XFDUDYJgAACzvnptvVoYEL"));
    assert_eq!(a.model.as_deref(), Some("claude-sonnet-4-5"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (25, 15, 40)
    );
    assert_eq!(u.cached_tokens(), Some(0));
    // Every event is a chunk with its raw name and data, the ping too.
    let names: Vec<&str> = r.chunks.iter().filter_map(|c| c.event.as_deref()).collect();
    assert_eq!(names.len(), r.chunks.len());
    assert_eq!(names[0], "message_start");
    let ping = r.chunks.iter().find(|c| c.event.as_deref() == Some("ping"));
    let ping = ping.expect("the ping is delivered");
    assert_eq!(ping.data, r#"{"type": "ping"}"#);
    assert_eq!(ping.text(), None);
}

#[tokio::test]
async fn tool_use_input_json_deltas_form_the_arguments() {
    let r = run(fixture!("anthropic_tool_use.sse")).await;
    let a = done(&r);
    assert_eq!(
        a.content,
        "Okay, let's check the weather for San Francisco, CA:"
    );
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(a.tool_calls.len(), 1);
    let call = &a.tool_calls[0];
    assert_eq!(call.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.index, 1, "the content block's index");
    let args: Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(
        args,
        json!({"location": "San Francisco, CA", "unit": "fahrenheit"})
    );
    let u = a.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (472, 89));
}

#[tokio::test]
async fn thinking_deltas_are_reasoning_not_content() {
    let r = run(fixture!("anthropic_thinking.sse")).await;
    let a = done(&r);
    assert_eq!(a.content, "27 * 453 = 12,231");
    assert_eq!(
        a.reasoning,
        "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3"
    );
    assert_eq!(r.texts(), a.content);
    assert_eq!(r.reasoning(), a.reasoning);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
}

#[tokio::test]
async fn an_overloaded_error_event_ends_the_request_keeping_the_text() {
    let r = run(fixture!("anthropic_overloaded.sse")).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "The first part of the answer");
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    let api = e.error.api_error().expect("the error object is read");
    assert_eq!(
        (api.kind.as_str(), api.message.as_str()),
        ("overloaded_error", "Overloaded")
    );
    let last = r.chunks.last().unwrap();
    assert_eq!(
        last.event.as_deref(),
        Some("error"),
        "delivered before the end"
    );
}

#[tokio::test]
async fn the_request_is_anthropics_shape() {
    let sse = fixture!("anthropic_text.sse");
    let (addr, seen) = serve_once(http_answer("200 OK", "text/event-stream", sse)).await;
    let provider_env: vivavoce::chat::EnvLookup =
        std::sync::Arc::new(|var| (var == "ANTHROPIC_API_KEY").then(|| KEY.to_owned()));
    let options = ChatConfig::new(Provider::Anthropic, "claude-sonnet-4-5")
        .base_url(format!("http://{addr}/v1"))
        .options(messages(), &provider_env)
        .unwrap();
    let r = run_options(options, 8).await;
    assert_eq!(done(&r).content, "Hello! How can I help you today?");
    let (head, body) = seen.await.unwrap();
    assert!(head.starts_with("post /v1/messages "), "{head}");
    assert!(head.contains(&format!("x-api-key: {KEY}")), "{head}");
    assert!(head.contains("anthropic-version: 2023-06-01"), "{head}");
    assert!(!head.contains("authorization"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Hello"}]),
        "the system prompt is moved out"
    );
    assert!(body.get("stream_options").is_none());
}

#[tokio::test]
async fn max_tokens_given_in_params_wins() {
    let sse = fixture!("anthropic_text.sse");
    let (addr, seen) = serve_once(http_answer("200 OK", "text/event-stream", sse)).await;
    let options = ChatOptions::new("claude-sonnet-4-5", messages())
        .wire(Wire::Anthropic)
        .url(format!("http://{addr}/v1/messages"))
        .api_key(KEY)
        .param("max_tokens", json!(64));
    done(&run_options(options, 8).await);
    let (_, body) = seen.await.unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["max_tokens"], 64);
}

#[tokio::test]
async fn http_errors_read_anthropics_error_body() {
    let cases = [
        ("401 Unauthorized", "authentication_error", ErrorKind::Auth),
        (
            "429 Too Many Requests",
            "rate_limit_error",
            ErrorKind::RateLimited,
        ),
        ("529 Overloaded", "overloaded_error", ErrorKind::Server),
    ];
    for (status, kind, want) in cases {
        let body = json!({"type": "error", "error": {"type": kind, "message": "no"}});
        let (addr, _seen) =
            serve_once(http_answer(status, "application/json", &body.to_string())).await;
        let options = ChatOptions::new("claude-sonnet-4-5", messages())
            .wire(Wire::Anthropic)
            .url(format!("http://{addr}/v1/messages"))
            .api_key(KEY);
        let r = run_options(options, 8).await;
        let e = r.failed();
        assert_eq!(e.error.kind(), want, "{status}");
        let api = e.error.api_error().expect("parsed");
        assert_eq!((api.kind.as_str(), api.message.as_str()), (kind, "no"));
        let shown = format!("{} {:?}", e.error, e.error);
        assert!(!shown.contains(KEY), "the key is never shown: {shown}");
    }
}

#[tokio::test]
async fn a_whole_message_when_not_streamed() {
    let message = json!({
        "id": "msg_01Whole", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"location": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 30, "output_tokens": 12}
    });
    let (addr, seen) = serve_once(http_answer(
        "200 OK",
        "application/json",
        &message.to_string(),
    ))
    .await;
    let options = ChatOptions::new("claude-sonnet-4-5", messages())
        .wire(Wire::Anthropic)
        .url(format!("http://{addr}/v1/messages"))
        .api_key(KEY)
        .stream(false);
    let r = run_options(options, 8).await;
    let ChatEvent::Complete(c) = &r.end else {
        panic!("expected Complete, got {:?}", r.end);
    };
    let a = &c.result;
    assert_eq!(a.content, "Checking.");
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    assert_eq!(
        (
            a.tool_calls[0].name.as_str(),
            a.tool_calls[0].arguments.as_str()
        ),
        ("get_weather", r#"{"location":"Paris"}"#)
    );
    assert_eq!(a.usage.as_ref().unwrap().total_tokens, 42);
    let (_, body) = seen.await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["stream"],
        false
    );
}

#[test]
fn a_missing_anthropic_key_names_its_variable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _in = rt.enter();
    let options = ChatOptions::new("claude-sonnet-4-5", messages())
        .wire(Wire::Anthropic)
        .api_key("");
    assert_eq!(options.url, "https://api.anthropic.com/v1/messages");
    let (tx, _rx) = mpsc::channel(1);
    let e = start_request(options, tx).unwrap_err();
    assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
}

#[tokio::test]
async fn overloaded_before_any_text_falls_back_to_the_next_config() {
    let overloaded = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: error\n",
        "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let (addr, seen) = serve_once(http_answer("200 OK", "text/event-stream", overloaded)).await;
    let backup =
        ChatSimulator::start(ChatSimulatorOptions::default().reply_text("from the backup"))
            .await
            .unwrap();
    let no_env: vivavoce::chat::EnvLookup = std::sync::Arc::new(|_| None);
    let policy = vivavoce::chat::RetryPolicy::default()
        .max_attempts(1)
        .backoff_range(Duration::from_millis(10), Duration::from_millis(50));
    let mut router = vivavoce::chat::ChatRouter::with_env(no_env).retry_policy(policy);
    let claude = ChatConfig::new(Provider::Anthropic, "claude-sonnet-4-5")
        .base_url(format!("http://{addr}/v1"))
        .api_key(KEY);
    router.register("claude", claude);
    let openai = Provider::Custom {
        base_url: format!("http://{}/v1", backup.addr()),
        key_var: None,
    };
    router.register(
        "backup",
        ChatConfig::new(openai, "gpt-4o-mini").api_key(SIM_KEY),
    );
    let stream = router.stream(["claude", "backup"], messages()).unwrap();
    let done = vivavoce::chat::collect(stream)
        .await
        .expect("the backup answers");
    assert_eq!(done.result.content, "from the backup");
    let (head, _) = seen.await.unwrap();
    assert!(
        head.starts_with("post /v1/messages "),
        "Claude was asked first"
    );
}

#[tokio::test]
async fn relayed_to_a_browser_as_the_same_simplified_events() {
    let r = run(fixture!("anthropic_text.sse")).await;
    let mut out: String = r
        .chunks
        .iter()
        .filter_map(|c| vivavoce::chat::event_to_simplified_sse(&ChatEvent::Chunk(c.clone())))
        .collect();
    out.extend(vivavoce::chat::event_to_simplified_sse(&r.end));
    assert!(
        out.starts_with("data: {\"text\":\"\",\"role\":\"assistant\"}\n\n"),
        "{out}"
    );
    assert!(
        out.contains("data: {\"text\":\" help you today?\"}\n\n"),
        "{out}"
    );
    assert!(
        !out.contains("ping") && !out.contains("message_start"),
        "{out}"
    );
    assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
}
