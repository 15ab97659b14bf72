//! Helpers for the simulator tests that speak raw JSON over `connect`.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{ClientEvent, EventReceiver, EventSender, ServerEvent, connect};

/// The next server event as JSON (it must parse as its type).
pub async fn next(rx: &mut EventReceiver) -> Value {
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
pub async fn until(rx: &mut EventReceiver, ty: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let ev = next(rx).await;
        if ev["type"] == ty {
            return (before, ev);
        }
        before.push(ev);
    }
}

pub async fn start(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    assert_eq!(next(&mut rx).await["type"], "session.created");
    (sim, tx, rx)
}

pub async fn send(tx: &EventSender, event: Value) {
    tx.send(ClientEvent::Raw(event)).await.unwrap();
}

pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

pub fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": text}]}})
}

pub fn text_response() -> Value {
    json!({"type": "response.create", "response": {"output_modalities": ["text"]}})
}

/// Adds a user message and waits for its `conversation.item.done`.
pub async fn say(tx: &EventSender, rx: &mut EventReceiver, text: &str) -> String {
    send(tx, user_text(text)).await;
    let (_, done) = until(rx, "conversation.item.done").await;
    done["item"]["id"].as_str().unwrap().to_owned()
}

/// Sends `response.create` and returns everything up to and including its `response.done`.
pub async fn respond(
    tx: &EventSender,
    rx: &mut EventReceiver,
    create: Value,
) -> (Vec<Value>, Value) {
    send(tx, create).await;
    until(rx, "response.done").await
}

pub async fn commit_speech(tx: &EventSender) {
    let pcm = vivavoce::mock::voice::synthesize("some speech");
    tx.send(vivavoce::realtime::events::InputAudioBufferAppend::from_pcm16(&pcm))
        .await
        .unwrap();
    send(tx, json!({"type": "input_audio_buffer.commit"})).await;
}

pub const LONG: &str =
    "This reply goes on for a good while so that the user can cut it off well before it ends.";

pub fn concat(events: &[Value], ty: &str, field: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == ty)
        .map(|e| e[field].as_str().unwrap())
        .collect()
}
