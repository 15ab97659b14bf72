//! The Realtime simulator's conversation as the API keeps it: item order, cancelled
//! responses that still complete their items, rate limits, usage, out-of-band responses,
//! scripted tool calls and input transcription. Real sockets, through `connect`.
#![cfg(feature = "mock")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{ClientEvent, EventReceiver, EventSender, ServerEvent, connect};

/// The next server event as JSON (it must parse as its type).
async fn next(rx: &mut EventReceiver) -> Value {
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
        .expect("the connection ended");
    assert!(
        !matches!(
            ev,
            ServerEvent::Unknown { .. } | ServerEvent::Malformed { .. }
        ),
        "the simulator sent an event that does not parse as its type: {ev:?}"
    );
    serde_json::from_str(ev.raw().expect("a server event").as_str()).unwrap()
}

/// Events up to (not including) the first of type `ty`, and that event.
async fn until(rx: &mut EventReceiver, ty: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let ev = next(rx).await;
        if ev["type"] == ty {
            return (before, ev);
        }
        before.push(ev);
    }
}

async fn start(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    assert_eq!(next(&mut rx).await["type"], "session.created");
    (sim, tx, rx)
}

async fn send(tx: &EventSender, event: Value) {
    tx.send(ClientEvent::Raw(event)).await.unwrap();
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": text}]}})
}

fn text_response() -> Value {
    json!({"type": "response.create", "response": {"output_modalities": ["text"]}})
}

/// Adds a user message and waits for its `conversation.item.done`.
async fn say(tx: &EventSender, rx: &mut EventReceiver, text: &str) -> String {
    send(tx, user_text(text)).await;
    let (_, done) = until(rx, "conversation.item.done").await;
    done["item"]["id"].as_str().unwrap().to_owned()
}

/// Sends `response.create` and returns everything up to and including its `response.done`.
async fn respond(tx: &EventSender, rx: &mut EventReceiver, create: Value) -> (Vec<Value>, Value) {
    send(tx, create).await;
    until(rx, "response.done").await
}

#[tokio::test]
async fn session_expires_an_hour_after_it_was_created() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    let created = next(&mut rx).await;
    let expires = created["session"]["expires_at"].as_i64().unwrap();
    assert!(
        (now + 3595..=now + 3605).contains(&expires),
        "expires_at {expires}, now {now}"
    );
    send(
        &tx,
        json!({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}),
    )
    .await;
    let updated = next(&mut rx).await;
    assert_eq!(updated["session"]["expires_at"], expires);
}
