//! What OpenAI-compatible providers really stream, run through the engine over real HTTP:
//! each fixture in `tests/fixtures/chat/` is a stream written by hand from the provider's
//! documentation of its format, which the Chat Completions simulator serves byte for
//! byte.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, run_options};

use serde_json::json;
use vivavoce::ErrorKind;
use vivavoce::chat::{Accumulated, ChatEvent, ChatOptions, FinishReason};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

/// Serves `body` from the simulator and runs one streamed request against it.
async fn run(body: &str) -> Run {
    run_with(body, true).await
}

/// Serves `body` from the simulator and runs one request (streamed or not) against it.
async fn run_with(body: &str, streamed: bool) -> Run {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().raw_stream(body))
        .await
        .unwrap();
    let options = ChatOptions::new("any", vec![json!({"role": "user", "content": "Hello"})])
        .url(sim.url())
        .api_key("sk-simulator")
        .stream(streamed);
    run_options(options, 8).await
}

#[tokio::test]
async fn mistral_content_parts_split_thinking_from_text() {
    let r = run(fixture!("mistral_thinking.sse")).await;
    assert!(r.chunks.iter().all(|c| c.done || c.delta.is_some()));
    let a = r.done();
    assert_eq!(a.content, "2 + 2 = **4**.");
    assert_eq!(a.reasoning, "The user asks for 2+2. That is 4.");
    assert_eq!(r.texts(), a.content);
    assert_eq!(r.reasoning(), a.reasoning);
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.model.as_deref(), Some("magistral-medium-2507"));
}

#[tokio::test]
async fn deepseek_reasoning_content_is_kept_apart() {
    let r = run(fixture!("deepseek_reasoner.sse")).await;
    let a = r.done();
    assert_eq!(a.reasoning, "9.11 has fewer tenths than 9.8.");
    assert_eq!(a.content, "9.8 is greater.");
    assert_eq!(r.texts(), a.content, "text() stays content-only");
    assert_eq!(a.finish_reason.as_deref(), Some("length"));
    assert_eq!(a.finish(), Some(FinishReason::Length));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (18, 120, 138)
    );
    assert_eq!(
        (u.cached_tokens(), u.reasoning_tokens()),
        (Some(0), Some(112))
    );
}

#[tokio::test]
async fn openrouter_comments_and_reasoning_deltas() {
    let r = run(fixture!("openrouter_reasoning.sse")).await;
    let a = r.done();
    assert_eq!(a.reasoning, "Okay, the capital of France is Paris.");
    assert_eq!(a.content, "Paris.");
    assert_eq!(r.texts(), "Paris.");
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.id.as_deref(), Some("gen-1750000000-Abc123XyZ"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.total_tokens, u.reasoning_tokens(), u.cached_tokens()),
        (52, Some(38), Some(0))
    );
    assert!(u.extra.contains_key("cost"), "what else it reports is kept");
}

#[tokio::test]
async fn openai_logprobs_and_usage_details_are_accumulated() {
    let r = run(fixture!("openai_logprobs.sse")).await;
    let a = r.done();
    assert_eq!(a.content, "Hello! How");
    let tokens: Vec<&str> = a.logprobs.iter().map(|t| t.token.as_str()).collect();
    assert_eq!(tokens, ["Hello", "!", " How"]);
    assert_eq!(a.logprobs[0].bytes.as_deref(), Some(&b"Hello"[..]));
    assert_eq!(a.logprobs[0].top_logprobs[1].token, "Hi");
    assert!((a.logprobs[1].logprob - -0.02380986).abs() < 1e-9);
    assert_eq!(a.logprobs[2].top_logprobs[1].bytes, None);
    assert_eq!(a.choices[0].logprobs, a.logprobs);
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (1117, 3, 1120)
    );
    assert_eq!(
        (u.cached_tokens(), u.reasoning_tokens()),
        (Some(1024), Some(0))
    );
}

#[tokio::test]
async fn mistral_tool_calls_without_index_stay_apart() {
    let r = run(fixture!("mistral_tool_calls.sse")).await;
    let a = r.done();
    assert_eq!(a.finish(), Some(FinishReason::ToolCalls));
    let calls: Vec<(u32, &str, &str, &str)> = a
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.index,
                c.id.as_str(),
                c.name.as_str(),
                c.arguments.as_str(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                0,
                "D681PevKs",
                "retrieve_payment_status",
                r#"{"transaction_id": "T1001"}"#
            ),
            (
                1,
                "VK3Rc0m8x",
                "retrieve_payment_date",
                r#"{"transaction_id": "T1002"}"#
            ),
        ]
    );
}

#[tokio::test]
async fn a_content_filter_notice_with_empty_names_does_not_hide_them() {
    let r = run(fixture!("azure_content_filter.sse")).await;
    let a = r.done();
    assert_eq!(a.id.as_deref(), Some("chatcmpl-AzureB9MHDbslfk"));
    assert_eq!(a.model.as_deref(), Some("gpt-4o-2024-11-20"));
    assert_eq!(a.content, "Here is a story");
    assert_eq!(a.finish_reason.as_deref(), Some("content_filter"));
    assert_eq!(a.finish(), Some(FinishReason::ContentFilter));
}

/// The terminal error of a request, with what it had received.
fn error(r: &Run) -> (&vivavoce::Error, &Accumulated) {
    match &r.end {
        ChatEvent::Error(e) => (&e.error, &e.partial),
        other => panic!("expected Error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_inside_a_200_stream_ends_the_request_with_it() {
    let r = run(fixture!("openrouter_midstream_error.sse")).await;
    let (e, partial) = error(&r);
    assert_eq!(partial.content, "The answer is");
    assert_eq!(partial.finish_reason.as_deref(), Some("error"));
    assert_eq!(e.status(), Some(200));
    let api = e.api_error().expect("the API's error");
    assert_eq!(api.code.as_deref(), Some("server_error"));
    assert_eq!(api.message, "Provider disconnected unexpectedly");
    assert_eq!(
        e.kind(),
        ErrorKind::Server,
        "OpenRouter's `server_error` code"
    );
    // The error's chunk is delivered too, before the terminal event.
    let last = r.chunks.last().unwrap();
    assert!(last.delta.as_ref().is_some_and(|d| d.error.is_some()));

    let r = run(fixture!("openrouter_error_object.sse")).await;
    let (e, partial) = error(&r);
    assert_eq!(partial.content, "Once upon");
    let api = e.api_error().unwrap();
    assert_eq!(api.code.as_deref(), Some("502"));
    assert!(api.message.starts_with("Upstream error"), "{api}");
    assert!(e.to_string().contains("Upstream error"), "{e}");
    assert!(
        !r.chunks.iter().any(|c| c.done),
        "[DONE] after the error is not read"
    );
}

#[tokio::test]
async fn a_numeric_code_in_a_200_stream_reads_as_the_status_it_stands_for() {
    let cases = [
        (502, ErrorKind::Server, true),
        (429, ErrorKind::RateLimited, true),
        (408, ErrorKind::Timeout, true),
        (401, ErrorKind::Auth, false),
        (403, ErrorKind::Permission, false),
        (400, ErrorKind::InvalidRequest, false),
    ];
    let sse = fixture!("openrouter_error_object.sse");
    for (code, kind, retryable) in cases {
        let r = run(&sse.replace(r#""code":502"#, &format!(r#""code":{code}"#))).await;
        let (e, partial) = error(&r);
        assert_eq!(partial.content, "Once upon", "{code}");
        assert_eq!(e.status(), Some(200));
        assert_eq!(e.api_error().unwrap().code, Some(code.to_string()));
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (kind, retryable),
            "{code}: {e}"
        );
    }
}

#[tokio::test]
async fn an_error_object_as_a_whole_200_answer_is_the_error() {
    let body = r#"{"error":{"message":"Quota exceeded","code":"insufficient_quota","type":"insufficient_quota"}}"#;
    let r = run_with(body, false).await;
    let (e, partial) = error(&r);
    assert_eq!(partial.content, "");
    assert_eq!(e.status(), Some(200));
    assert_eq!(
        e.api_error().unwrap().code.as_deref(),
        Some("insufficient_quota")
    );
}
