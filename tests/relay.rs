//! The axum relay (`ChatSse`) over real HTTP on 127.0.0.1: the Chat Completions simulator
//! upstream, an axum server in front of it, and reqwest in the browser's place.
#![cfg(all(feature = "axum", feature = "mock"))]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use vivavoce::chat::{
    ChatEvent, ChatOptions, ChatSse, Relay, SseParser, format_sse_done, start_request, stream,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};

type Hook = Arc<dyn Fn(&ChatEvent) -> Relay + Send + Sync>;

fn options(upstream: &str) -> ChatOptions {
    ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": "Hello"})],
    )
    .url(upstream)
    .api_key("sk-simulator")
}

/// Starts the simulator and an axum app whose `/chat` relays one request to it, through
/// `stream()` (or `start_request` + `from_channel` when `channel`), with `hook` if any.
async fn relay(
    sim: ChatSimulatorOptions,
    channel: bool,
    hook: Option<Hook>,
) -> (ChatSimulator, String) {
    let sim = ChatSimulator::start(sim).await.unwrap();
    let upstream = sim.url();
    let handler = move || {
        let (upstream, hook) = (upstream.clone(), hook.clone());
        async move {
            let sse = if channel {
                let (tx, rx) = mpsc::channel(16);
                let stop = start_request(options(&upstream), tx).unwrap();
                ChatSse::from_channel(rx, stop)
            } else {
                ChatSse::new(stream(options(&upstream)).unwrap())
            };
            match hook {
                Some(hook) => sse.hook(move |e| hook(e)),
                None => sse,
            }
        }
    };
    let app = Router::new().route("/chat", get(handler));
    let url = serve(app).await;
    (sim, url)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/chat")
}

/// What a browser reads: the whole body, and the `data` of each event.
async fn browse(url: &str) -> (String, Vec<String>) {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = tokio::time::timeout(Duration::from_secs(30), resp.text())
        .await
        .expect("the response ends")
        .unwrap();
    (body.clone(), events(&body))
}

fn events(body: &str) -> Vec<String> {
    let mut parser = SseParser::new(1 << 20);
    let mut out = Vec::new();
    parser.feed(body.as_bytes(), |e| out.push(e.data)).unwrap();
    assert!(!parser.has_partial(), "the body ends on an event boundary");
    out
}

fn texts(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn done_once_and_last(events: &[String]) {
    assert_eq!(
        events.iter().filter(|e| *e == "[DONE]").count(),
        1,
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

/// Waits (up to 10 s) for the simulator to see its stream cut by the client.
async fn upstream_cut(sim: &ChatSimulator) {
    let t0 = Instant::now();
    while sim.streams_cut() == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the upstream request was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.streams_finished(), 0);
}

#[tokio::test]
async fn relays_text_then_done_exactly_once() {
    let reply = "Relayed to the browser, word by word: é😀.";
    for channel in [false, true] {
        let sim = ChatSimulatorOptions::default().reply_text(reply);
        let (_sim, url) = relay(sim, channel, None).await;
        let (body, events) = browse(&url).await;
        done_once_and_last(&events);
        assert_eq!(texts(&events), reply);
        let first: Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(first, json!({"text": "", "role": "assistant"}));
        assert!(body.ends_with(format_sse_done()));
    }
}

#[tokio::test]
async fn an_upstream_failure_reaches_the_browser_without_details() {
    for fault in [ChatFault::Status(500), ChatFault::Status(429)] {
        let sim = ChatSimulatorOptions::default().fault(fault);
        let (sim, url) = relay(sim, false, None).await;
        let (body, events) = browse(&url).await;
        assert_eq!(
            events,
            [r#"{"error":"the upstream request failed"}"#, "[DONE]"]
        );
        for detail in [
            "500",
            "429",
            "server_error",
            "rate_limit",
            "Rate limit",
            "processing your request",
            &sim.addr().port().to_string(),
        ] {
            assert!(!body.contains(detail), "{detail:?} leaked: {body}");
        }
    }
    // A wrong key upstream: the same, and the key is nowhere.
    let mut sim = ChatSimulatorOptions::default();
    sim.api_key = Some("sk-other".into());
    let (_sim, url) = relay(sim, true, None).await;
    let (body, events) = browse(&url).await;
    assert_eq!(events.len(), 2);
    done_once_and_last(&events);
    assert!(!body.contains("sk-") && !body.contains("401"), "{body}");
}

#[tokio::test]
async fn a_request_that_cannot_start_still_ends_with_done() {
    let app = Router::new().route(
        "/chat",
        get(|| async {
            // No key anywhere: refused before any I/O.
            let options = ChatOptions::new("gpt-4o-mini", vec![json!({"role": "user"})]);
            match stream(options) {
                Ok(events) => ChatSse::new(events),
                Err(e) => ChatSse::failed(&e),
            }
        }),
    );
    let url = serve(app).await;
    let (_, events) = browse(&url).await;
    assert_eq!(
        events,
        [r#"{"error":"the upstream request failed"}"#, "[DONE]"]
    );
}

#[tokio::test]
async fn a_drop_mid_stream_keeps_what_came_and_ends_with_done() {
    let sim = ChatSimulatorOptions::default()
        .reply_text("one two three four five six")
        .fault(ChatFault::DropAfterChunks(4));
    let (_sim, url) = relay(sim, true, None).await;
    let (_, events) = browse(&url).await;
    done_once_and_last(&events);
    // The role chunk and three words came before the connection dropped.
    assert_eq!(texts(&events), "one two three ");
}

#[tokio::test]
async fn hooks_replace_skip_and_stop() {
    // A long, slow answer: stopping must cut it, not wait for it.
    let sim = ChatSimulatorOptions::default()
        .reply_text("alpha beta gamma delta epsilon")
        .chunk_count(500)
        .chunk_delay(Duration::from_millis(20));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: Hook = Arc::new(move |event| {
        let ChatEvent::Chunk(c) = event else {
            log.lock().unwrap().push("terminal".to_owned());
            return Relay::Default;
        };
        let text = c.text().unwrap_or_default().to_owned();
        let choice = c.delta.as_ref().and_then(|d| d.choices.first());
        log.lock().unwrap().push(text.clone());
        if choice.is_some_and(|c| c.role.is_some()) {
            return Relay::Data("start\nof answer".into());
        }
        match text.as_str() {
            "beta " => Relay::Skip,
            "delta " => Relay::Stop,
            _ => Relay::Default,
        }
    });
    let (sim, url) = relay(sim, false, Some(hook)).await;
    let (body, events) = browse(&url).await;
    assert!(
        body.starts_with("data: start\ndata: of answer\n\n"),
        "{body}"
    );
    assert_eq!(events[0], "start\nof answer");
    assert_eq!(texts(&events), "alpha gamma ");
    done_once_and_last(&events);
    assert_eq!(events.len(), 4, "{events:?}");
    upstream_cut(&sim).await;
    // The hook saw nothing after it said stop.
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some("delta ")
    );
}

#[tokio::test]
async fn a_hook_can_add_a_last_event_before_done() {
    let hook: Hook = Arc::new(|event| match event {
        ChatEvent::Complete(c) => Relay::Data(json!({"finished": c.result.content}).to_string()),
        ChatEvent::Error(_) => Relay::Stop,
        _ => Relay::Default,
    });
    let sim = ChatSimulatorOptions::default().reply_text("Short answer.");
    let (_sim, url) = relay(sim, true, Some(hook)).await;
    let (_, events) = browse(&url).await;
    done_once_and_last(&events);
    assert_eq!(
        events[events.len() - 2],
        json!({"finished": "Short answer."}).to_string()
    );
}

#[tokio::test]
async fn a_browser_that_goes_away_stops_the_upstream() {
    for channel in [false, true] {
        let sim = ChatSimulatorOptions::default()
            .chunk_count(500)
            .chunk_delay(Duration::from_millis(20));
        let (sim, url) = relay(sim, channel, None).await;
        let mut resp = reqwest::get(&url).await.unwrap();
        let first = resp.chunk().await.unwrap().expect("a first event");
        assert!(first.starts_with(b"data: "));
        drop(resp);
        upstream_cut(&sim).await;
    }
}

#[tokio::test]
async fn keep_alive_comments_fill_a_stall() {
    let sim = ChatSimulatorOptions::default()
        .reply_text("before after")
        .fault(ChatFault::StallAfterChunks(2, Duration::from_millis(400)));
    let sim = ChatSimulator::start(sim).await.unwrap();
    let upstream = sim.url();
    let app = Router::new().route(
        "/chat",
        get(move || {
            let upstream = upstream.clone();
            async move {
                ChatSse::new(stream(options(&upstream)).unwrap())
                    .keep_alive(Some(Duration::from_millis(50)))
            }
        }),
    );
    let url = serve(app).await;
    let (body, events) = browse(&url).await;
    assert!(
        body.matches("\n:\n\n").count() >= 2,
        "keep-alive comments during the stall: {body:?}"
    );
    assert_eq!(texts(&events), "before after");
    done_once_and_last(&events);
}
