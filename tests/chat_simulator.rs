//! The Chat Completions simulator, over real HTTP on 127.0.0.1 (reqwest, and raw TCP
//! where write boundaries matter).
#![cfg(feature = "mock")]

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

fn body(stream: bool, include_usage: bool) -> Value {
    json!({ "model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}],
        "stream_options": if include_usage { json!({"include_usage": true}) } else { Value::Null } })
}

async fn post(sim: &ChatSimulator, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(sim.url())
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `data:` payloads of an SSE body, comments skipped.
fn data_lines(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

async fn start(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

#[tokio::test]
async fn streams_openai_chunks_with_usage_and_done() {
    let sim = start(ChatSimulatorOptions::default().reply_text("Héllo wörld again")).await;
    let resp = post(&sim, "sk-simulator", &body(true, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let data = data_lines(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let id = chunks[0]["id"].clone();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Héllo wörld again");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn non_streaming_answer() {
    let sim = start(ChatSimulatorOptions::default().reply_text("Just this.")).await;
    let v: Value = post(&sim, "sk-simulator", &body(false, false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "Just this.");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn tool_call_arguments_are_split_across_chunks() {
    let args = r#"{"city":"Paris"}"#;
    let sim = start(ChatSimulatorOptions::default().tool_call("get_weather", args)).await;
    let data = data_lines(
        &post(&sim, "sk-simulator", &body(true, false))
            .await
            .text()
            .await
            .unwrap(),
    );
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(calls.len() >= 3, "{calls:?}");
    assert_eq!(calls[0][0]["function"]["name"], "get_weather");
    let joined: String = calls
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(joined, args);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn error_statuses_have_the_apis_bodies() {
    let sim = start(ChatSimulatorOptions::default()).await;
    let resp = post(&sim, "sk-wrong", &body(true, false)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );

    let sim = start(ChatSimulatorOptions::default().fault(ChatFault::Status(429))).await;
    let resp = post(&sim, "sk-simulator", &body(true, false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limit_exceeded"
    );

    let sim = start(ChatSimulatorOptions::default().fault(ChatFault::Status(500))).await;
    let resp = post(&sim, "sk-simulator", &body(true, false)).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["type"],
        "server_error"
    );

    let sim = start(ChatSimulatorOptions::default()).await;
    let resp = post(&sim, "sk-simulator", &json!({"model": "m", "messages": []})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["param"],
        "messages"
    );
}

#[tokio::test]
async fn drop_malformed_comments_and_stall() {
    let sim = start(
        ChatSimulatorOptions::default()
            .reply_text("a b c d")
            .fault(ChatFault::DropAfterChunks(2)),
    )
    .await;
    let data = data_lines(
        &post(&sim, "sk-simulator", &body(true, false))
            .await
            .text()
            .await
            .unwrap_or_default(),
    );
    assert_eq!(
        data.len(),
        2,
        "two chunks, then the connection ends: {data:?}"
    );
    assert!(!data.contains(&"[DONE]".to_owned()));

    let sim = start(
        ChatSimulatorOptions::default()
            .fault(ChatFault::MalformedChunk(1))
            .comments(true),
    )
    .await;
    let text = post(&sim, "sk-simulator", &body(true, false))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains(": OPENROUTER PROCESSING\n\n"));
    let data = data_lines(&text);
    assert_eq!(data[1], "{not json");
    assert_eq!(
        data.last().unwrap(),
        "[DONE]",
        "the stream goes on after it"
    );

    let stall = Duration::from_millis(300);
    let sim =
        start(ChatSimulatorOptions::default().fault(ChatFault::StallAfterChunks(1, stall))).await;
    let started = tokio::time::Instant::now();
    let text = post(&sim, "sk-simulator", &body(true, false))
        .await
        .text()
        .await
        .unwrap();
    assert!(started.elapsed() >= stall);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn utf8_characters_are_split_across_writes() {
    let sim = start(
        ChatSimulatorOptions::default()
            .reply_text("¡olé! ünïcödé")
            .split_writes(true),
    )
    .await;
    let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let body = body(true, false).to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-simulator\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut reads = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        reads.push(buf[..n].to_vec());
    }
    assert!(
        reads.iter().any(|r| std::str::from_utf8(r).is_err()),
        "some read ends inside a multi-byte character"
    );
    let all = String::from_utf8(reads.concat()).unwrap();
    assert!(all.contains("ünïcödé"));
}

#[tokio::test]
async fn echo_user_counts_and_quotes_the_user_messages() {
    let sim = start(
        ChatSimulatorOptions::default()
            .reply_text("Noted.")
            .echo_user(true),
    )
    .await;
    let history = json!({ "model": "m", "stream": false, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]});
    let v: Value = post(&sim, "sk-simulator", &history)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "(user message 2) You said: \"What is my name?\". Noted."
    );
    // Streamed, the same words arrive one chunk at a time.
    let mut streamed = history.clone();
    streamed["stream"] = json!(true);
    let data = data_lines(
        &post(&sim, "sk-simulator", &streamed)
            .await
            .text()
            .await
            .unwrap(),
    );
    let text: String = data[..data.len() - 1]
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        text.starts_with("(user message 2) You said: \"What is my name?\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_raw_stream_is_served_byte_for_byte() {
    let body = ": comment\n\ndata: {\"choices\":[]}\r\n\r\ndata: [DONE]\n\n";
    let s = ChatSimulator::start(ChatSimulatorOptions::default().raw_stream(body))
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(s.url())
        .bearer_auth("sk-simulator")
        .json(&serde_json::json!({"model": "m", "messages": [], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert_eq!(resp.text().await.unwrap(), body);
    assert_eq!(s.streams_finished(), 1);
    let wrong_key = reqwest::Client::new()
        .post(s.url())
        .bearer_auth("sk-wrong")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401, "the key is still checked");
}
