//! Google Gemini's `streamGenerateContent` through the same engine over real HTTP: the
//! streams in `tests/fixtures/chat/gemini_*.sse` are written by hand from Google's
//! documented `GenerateContentResponse` (CRLF-framed, as Google's SSE is), served byte
//! for byte by the simulator; the simulator's own Gemini mode answers the rest (or, to
//! see the request, a tiny server here).
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{Run, fixture, http_answer, run_options, serve_once};

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use vivavoce::chat::{
    Accumulated, ChatConfig, ChatEvent, ChatOptions, ChatRouter, CompleteReason, EnvLookup,
    FinishReason, Provider, RetryPolicy, Wire, collect, start_request,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};
use vivavoce::{Error, ErrorKind};

const KEY: &str = "AIza-test-secret";
/// The simulator's key (it checks `x-goog-api-key` at `/v1beta/models/…`).
const SIM_KEY: &str = "sk-simulator";
const MODEL: &str = "gemini-2.5-flash";
const REPLY: &str = "one two three four five";

fn messages() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": "You are terse."}),
        json!({"role": "user", "content": "Hello"}),
    ]
}

fn no_env() -> EnvLookup {
    Arc::new(|_| None)
}

/// A request to the simulator's Gemini root.
fn config(sim: &ChatSimulator) -> ChatConfig {
    ChatConfig::new(Provider::Gemini, MODEL)
        .base_url(format!("http://{}/v1beta", sim.addr()))
        .api_key(SIM_KEY)
}

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

async fn run_sim(sim: &ChatSimulator, stream: bool) -> Run {
    let options = config(sim).options(messages(), &no_env()).unwrap();
    run_options(options.stream(stream), 8).await
}

/// Serves `body` from the simulator and streams one request from it.
async fn run(body: &str) -> Run {
    let sim = sim(ChatSimulatorOptions::default().raw_stream(body)).await;
    run_sim(&sim, true).await
}

/// The result of a stream that ended normally at the end of the body, after its finish
/// reason (Gemini has no end marker to keep).
fn done(r: &Run) -> &Accumulated {
    let a = r.done();
    let ChatEvent::Complete(c) = &r.end else {
        unreachable!()
    };
    assert!(c.done_event.is_none(), "no end marker");
    a
}

#[tokio::test]
async fn text_across_events_with_running_usage() {
    let r = run(fixture!("gemini_text.sse")).await;
    let a = done(&r);
    let text = "The sky is blue because of Rayleigh scattering: air scatters short blue wavelengths more than red ones.";
    assert_eq!(a.content, text);
    assert_eq!(r.texts(), text);
    assert_eq!(r.chunks.len(), 3, "one chunk per event");
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.role.as_deref(), Some("assistant"));
    assert_eq!(a.id.as_deref(), Some("x7a1Zq2LFYWz1MkP8JqY8Qs"));
    assert_eq!(a.model.as_deref(), Some(MODEL));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (8, 21, 29)
    );
    assert_eq!((u.reasoning_tokens(), u.cached_tokens()), (None, None));
    assert!(u.extra.contains_key("promptTokensDetails"), "kept as sent");
}

#[tokio::test]
async fn function_calls_arrive_whole_with_made_ids() {
    let r = run(fixture!("gemini_tool_call.sse")).await;
    let a = done(&r);
    assert_eq!(a.content, "");
    assert_eq!(
        a.finish(),
        Some(FinishReason::ToolCalls),
        "STOP after calls"
    );
    let calls: Vec<(u32, &str, Value)> = a
        .tool_calls
        .iter()
        .map(|c| {
            let args = serde_json::from_str(&c.arguments).unwrap();
            (c.index, c.name.as_str(), args)
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                0,
                "get_current_weather",
                json!({"location": "Boston, MA", "unit": "celsius"})
            ),
            (
                1,
                "get_current_weather",
                json!({"location": "San Francisco, CA", "unit": "celsius"})
            ),
        ]
    );
    let ids: Vec<&str> = a.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "call_gemini_ZqH1aNvdKpX3nvgPq7-R0Ao_0_0",
            "call_gemini_ZqH1aNvdKpX3nvgPq7-R0Ao_0_1"
        ]
    );
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (74, 97, 171),
        "the thoughts count as completion"
    );
    assert_eq!(u.reasoning_tokens(), Some(59));
}

#[tokio::test]
async fn an_error_object_mid_stream_ends_the_request_keeping_the_text() {
    let r = run(fixture!("gemini_midstream_error.sse")).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "Once upon a time, in a quiet village");
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    let api = e.error.api_error().expect("the error object is read");
    assert_eq!(
        (api.kind.as_str(), api.code.as_deref()),
        ("UNAVAILABLE", Some("503"))
    );
    assert!(api.message.contains("overloaded"), "{api}");
    assert!(
        r.chunks.last().unwrap().data.contains("UNAVAILABLE"),
        "delivered before the end"
    );
}

#[tokio::test]
async fn thoughts_signatures_and_counts_only_events() {
    let r = run(fixture!("gemini_oddities.sse")).await;
    let a = done(&r);
    assert_eq!(a.content, "Short answer: yes, with a caveat");
    assert_eq!(
        a.reasoning,
        "**Weighing the options**\n\nThe user wants a short answer."
    );
    assert_eq!(r.reasoning(), a.reasoning);
    assert_eq!(a.finish(), Some(FinishReason::Length));
    assert_eq!(a.model.as_deref(), Some("gemini-2.5-pro"));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (1200, 113, 1313)
    );
    assert_eq!(
        (u.cached_tokens(), u.reasoning_tokens()),
        (Some(1024), Some(104))
    );
    assert_eq!(
        r.chunks.len(),
        4,
        "the citation-only event is delivered too"
    );
}

#[tokio::test]
async fn a_blocked_prompt_finishes_as_content_filtered() {
    let blocked = "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\"usageMetadata\":{\"promptTokenCount\":7,\"totalTokenCount\":7},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"b1\"}\r\n\r\n";
    let r = run(blocked).await;
    let a = done(&r);
    assert_eq!(a.content, "");
    assert_eq!(a.finish(), Some(FinishReason::ContentFilter));
}

#[tokio::test]
async fn the_simulator_streams_text_with_usage() {
    let sim = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_sim(&sim, true).await;
    let a = done(&r);
    assert_eq!(a.content, REPLY);
    assert_eq!(r.chunks.len(), 5, "one event per word");
    assert_eq!(a.finish(), Some(FinishReason::Stop));
    assert_eq!(a.model.as_deref(), Some(MODEL));
    let u = a.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 5, 17)
    );
    assert_eq!(sim.streams_finished(), 1);
}

#[tokio::test]
async fn the_simulator_calls_a_function() {
    let args = r#"{"city":"Paris","unit":"celsius"}"#;
    let sim = sim(ChatSimulatorOptions::default().tool_call("get_weather", args)).await;
    for stream in [true, false] {
        let r = run_sim(&sim, stream).await;
        let ChatEvent::Complete(c) = &r.end else {
            panic!("expected Complete, got {:?}", r.end);
        };
        let a = &c.result;
        assert_eq!(a.finish(), Some(FinishReason::ToolCalls), "stream {stream}");
        let call = &a.tool_calls[0];
        assert_eq!(call.name, "get_weather");
        let got: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(got, serde_json::from_str::<Value>(args).unwrap());
        assert!(call.id.starts_with("call_gemini_sim"), "{}", call.id);
    }
}

#[tokio::test]
async fn a_whole_answer_when_not_streamed() {
    let sim = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let r = run_sim(&sim, false).await;
    let ChatEvent::Complete(c) = &r.end else {
        panic!("expected Complete, got {:?}", r.end);
    };
    assert_eq!(c.reason, CompleteReason::Done);
    assert_eq!(c.result.content, REPLY);
    assert_eq!(r.chunks.len(), 1);
    assert_eq!(c.result.finish(), Some(FinishReason::Stop));
    assert_eq!(c.result.usage.as_ref().unwrap().total_tokens, 17);
    assert_eq!(sim.streams_finished(), 0, "answered whole");
}

#[tokio::test]
async fn status_errors_are_typed_and_never_show_the_key() {
    let cases = [
        (
            ChatFault::Status(401),
            401,
            ErrorKind::Auth,
            "UNAUTHENTICATED",
        ),
        (
            ChatFault::Status(429),
            429,
            ErrorKind::RateLimited,
            "RESOURCE_EXHAUSTED",
        ),
        (
            ChatFault::Status(503),
            503,
            ErrorKind::Server,
            "UNAVAILABLE",
        ),
        (ChatFault::Status(500), 500, ErrorKind::Server, "INTERNAL"),
        // The same status as a rate limit; the daily quota named in its details.
        (
            ChatFault::QuotaExceeded,
            429,
            ErrorKind::QuotaExceeded,
            "RESOURCE_EXHAUSTED",
        ),
    ];
    for (fault, status, kind, google) in cases {
        let sim = sim(ChatSimulatorOptions::default().fault(fault)).await;
        let r = run_sim(&sim, true).await;
        let e = &r.failed().error;
        assert_eq!((e.status(), e.kind()), (Some(status), kind), "{status}");
        let api = e.api_error().expect("Google's error object is read");
        assert_eq!(
            (api.kind.as_str(), api.code.clone()),
            (google, Some(status.to_string()))
        );
        assert_eq!(
            e.is_retryable(),
            matches!(kind, ErrorKind::RateLimited | ErrorKind::Server)
        );
        if kind == ErrorKind::RateLimited {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        }
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(SIM_KEY), "the key is never shown: {shown}");
    }
    let sim = sim(ChatSimulatorOptions::default()).await;
    let options = ChatConfig::new(Provider::Gemini, MODEL)
        .base_url(format!("http://{}/v1beta", sim.addr()))
        .api_key(KEY)
        .options(messages(), &no_env())
        .unwrap();
    assert!(!format!("{options:?}").contains(KEY), "not in Debug");
    let r = run_options(options, 8).await;
    let e = &r.failed().error;
    assert_eq!(e.kind(), ErrorKind::Auth, "a wrong key");
    assert!(!format!("{e} {e:?}").contains(KEY));
}

#[tokio::test]
async fn an_error_event_mid_stream_keeps_the_text() {
    let options = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::ErrorAfterChunks(2));
    let r = run_sim(&sim(options).await, true).await;
    let e = r.failed();
    assert_eq!(e.partial.content, "one two ");
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert_eq!(e.error.api_error().unwrap().kind, "UNAVAILABLE");
}

#[tokio::test]
async fn a_drop_before_the_finish_is_an_early_end_keeping_the_text() {
    let options = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::DropAfterChunks(3));
    let r = run_sim(&sim(options).await, true).await;
    let ChatEvent::Complete(c) = &r.end else {
        panic!("expected Complete, got {:?}", r.end);
    };
    assert_eq!(c.reason, CompleteReason::Eof, "no finish reason came");
    assert_eq!(c.result.content, "one two three ");
    assert_eq!(c.result.finish_reason, None);
}

#[tokio::test]
async fn a_malformed_event_is_a_typed_error_naming_it() {
    let options = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::MalformedChunk(1));
    let r = run_sim(&sim(options).await, true).await;
    let e = r.failed();
    assert!(
        matches!(e.error, Error::InvalidResponse { .. }),
        "{:?}",
        e.error
    );
    assert_eq!(e.error.kind(), ErrorKind::Parse);
    assert!(e.error.to_string().contains("chunk 2"), "{}", e.error);
    assert_eq!(e.partial.content, "one ");
}

fn answer(content_type: &str, body: &str) -> String {
    http_answer("200 OK", content_type, body)
}

#[tokio::test]
async fn the_request_is_geminis_shape() {
    let sse = fixture!("gemini_text.sse");
    let (addr, seen) = serve_once(answer("text/event-stream", sse)).await;
    let env: EnvLookup = Arc::new(|var| (var == "GEMINI_API_KEY").then(|| KEY.to_owned()));
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Today's weather", "parameters": {"type": "object"}}}]);
    let options = ChatConfig::new(Provider::Gemini, "models/gemini-2.5-flash")
        .base_url(format!("http://{addr}/v1beta"))
        .options(messages(), &env)
        .unwrap()
        .param("max_tokens", json!(64))
        .param("temperature", json!(0.5))
        .param("stop", json!(["END"]))
        .param("tools", tools)
        .param("tool_choice", json!("required"));
    done(&run_options(options, 8).await);
    let (head, body) = seen.await.unwrap();
    assert!(
        head.starts_with("post /v1beta/models/gemini-2.5-flash:streamgeneratecontent?alt=sse "),
        "{head}"
    );
    assert!(
        head.contains(&format!("x-goog-api-key: {}", KEY.to_lowercase())),
        "{head}"
    );
    assert!(!head.contains("authorization"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "Hello"}]}])
    );
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"maxOutputTokens": 64, "temperature": 0.5, "stopSequences": ["END"]})
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather",
            "description": "Today's weather", "parameters": {"type": "object"}}]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    for absent in ["model", "stream", "messages", "stream_options"] {
        assert!(body.get(absent).is_none(), "{absent} is not Gemini's");
    }

    let whole = json!({"candidates": [{"content": {"parts": [{"text": "Hi."}], "role": "model"},
        "finishReason": "STOP"}], "modelVersion": MODEL, "responseId": "w"});
    let (addr, seen) = serve_once(answer("application/json", &whole.to_string())).await;
    let options = ChatOptions::new(MODEL, messages())
        .wire(Wire::Gemini)
        .url(format!("http://{addr}/v1beta"))
        .api_key(KEY)
        .stream(false);
    let r = run_options(options, 8).await;
    assert_eq!(r.done().content, "Hi.");
    let (head, _) = seen.await.unwrap();
    assert!(
        head.starts_with("post /v1beta/models/gemini-2.5-flash:generatecontent "),
        "{head}"
    );
}

#[test]
fn a_missing_gemini_key_names_its_variable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _in = rt.enter();
    let options = ChatOptions::new(MODEL, messages())
        .wire(Wire::Gemini)
        .api_key("");
    let (tx, _rx) = mpsc::channel(1);
    let e = start_request(options, tx).unwrap_err();
    assert!(e.to_string().contains("GEMINI_API_KEY"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn the_router_retries_a_429_then_falls_back_before_the_first_token() {
    let policy = RetryPolicy::default()
        .max_attempts(2)
        .backoff_range(Duration::from_millis(10), Duration::from_millis(50));
    let flaky = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .faults(vec![ChatFault::Status(429)]))
    .await;
    let mut router = ChatRouter::with_env(no_env()).retry_policy(policy.clone());
    router.register("gemini", config(&flaky));
    let done = collect(router.stream("gemini", messages()).unwrap())
        .await
        .expect("the retry answers");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(flaky.requests(), 2, "one retry");

    let down = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(503))).await;
    let backup = sim(ChatSimulatorOptions::default().reply_text("from the backup")).await;
    let mut router = ChatRouter::with_env(no_env()).retry_policy(policy.max_attempts(1));
    router.register("gemini", config(&down));
    let openai = Provider::Custom {
        base_url: format!("http://{}/v1", backup.addr()),
        key_var: None,
    };
    router.register(
        "backup",
        ChatConfig::new(openai, "gpt-4o-mini").api_key(SIM_KEY),
    );
    let done = collect(router.stream(["gemini", "backup"], messages()).unwrap())
        .await
        .expect("the backup answers");
    assert_eq!(done.result.content, "from the backup");
    assert_eq!(down.requests(), 1, "Gemini was asked first");
}
