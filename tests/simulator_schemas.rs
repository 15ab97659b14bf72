//! Every event the simulator sends validates against the GA server-event JSON Schema of
//! its type (`schemas/server/`, generated from the OpenAI spec), over a long scripted
//! conversation that touches every kind of event it can send.
#![cfg(feature = "mock")]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{InputAudioBufferAppend, ResponseCancel, ResponseCreate};
use vivavoce::realtime::{ClientEvent, EventReceiver, EventSender, ServerEvent, connect};

fn validators() -> HashMap<String, jsonschema::Validator> {
    let dir = format!("{}/schemas/server", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let ty = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let validator =
                jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{ty}: {e}"));
            (ty, validator)
        })
        .collect()
}

/// Sends `events` and collects the raw JSON of everything received until `until` types
/// have all been seen.
async fn exchange(
    tx: &EventSender,
    rx: &mut EventReceiver,
    events: Vec<ClientEvent>,
    until: &[&str],
) -> Vec<String> {
    for e in events {
        tx.send(e).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut pending: Vec<&str> = until.to_vec();
    while !pending.is_empty() {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("still waiting for {pending:?}; got {seen:#?}"))
            .unwrap();
        pending.retain(|t| *t != ev.event_type());
        assert!(!matches!(ev, ServerEvent::Disconnected(_)), "{ev:?}");
        seen.push(ev.raw().unwrap().as_str().to_owned());
    }
    seen
}

fn raw(v: Value) -> ClientEvent {
    ClientEvent::Raw(v)
}

#[tokio::test]
async fn a_long_conversation_validates_against_the_spec() {
    let validators = validators();
    assert_eq!(validators.len(), 46);
    let mut all = Vec::new();

    let sim = RealtimeSimulator::start(SimulatorOptions::default().pace(Pace::Fast))
        .await
        .unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    all.push(rx.recv().await.unwrap().raw().unwrap().as_str().to_owned());
    let speech: Vec<i16> = std::iter::repeat_n(0, 12_000)
        .chain((0..24_000).map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16))
        .chain(std::iter::repeat_n(0, 16_800))
        .collect();
    let steps: Vec<(Vec<ClientEvent>, &[&str])> = vec![
        (
            vec![raw(
                json!({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}),
            )],
            &["session.updated"],
        ),
        (
            vec![raw(
                json!({"type": "session.update", "session": {"type": "realtime", "bogus": 1}}),
            )],
            &["error"],
        ),
        (
            vec![raw(
                json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}}),
            )],
            &["conversation.item.done"],
        ),
        (
            vec![raw(
                json!({"type": "response.create", "response": {"output_modalities": ["text"]}}),
            )],
            &["response.done"],
        ),
        (vec![ResponseCreate::default().into()], &["response.done"]),
        (
            speech
                .chunks(2400)
                .map(|c| InputAudioBufferAppend::from_pcm16(c).into())
                .collect(),
            &["response.done"],
        ),
        (
            vec![
                ResponseCreate::default().into(),
                ResponseCreate::default().into(),
                ResponseCancel::default().into(),
            ],
            &["response.done", "error"],
        ),
        (
            vec![
                raw(json!({"type": "input_audio_buffer.clear"})),
                raw(json!({"type": "input_audio_buffer.append", "audio": "AAAA"})),
                raw(json!({"type": "input_audio_buffer.commit"})),
            ],
            &["error"],
        ),
        (
            vec![raw(json!({"type": "input_audio_buffer.clear"}))],
            &["input_audio_buffer.cleared"],
        ),
        (vec![raw(json!({"type": "nonsense"}))], &["error"]),
    ];
    for (events, until) in steps {
        all.extend(exchange(&tx, &mut rx, events, until).await);
    }
    // Item operations on the first item the conversation holds.
    let first_item = all
        .iter()
        .find_map(|r| {
            let v: Value = serde_json::from_str(r).unwrap();
            (v["type"] == "conversation.item.added")
                .then(|| v["item"]["id"].as_str().unwrap().to_owned())
        })
        .unwrap();
    all.extend(
        exchange(
            &tx,
            &mut rx,
            vec![
                raw(json!({"type": "conversation.item.retrieve", "item_id": first_item})),
                raw(json!({"type": "conversation.item.delete", "item_id": first_item})),
            ],
            &["conversation.item.deleted"],
        )
        .await,
    );

    // A function call, and G.711 audio, from scripted simulators.
    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .function_call("f", r#"{"a":1}"#)
            .pace(Pace::Fast),
    )
    .await
    .unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    all.extend(
        exchange(
            &tx,
            &mut rx,
            vec![ResponseCreate::default().into()],
            &["session.created", "response.done"],
        )
        .await,
    );

    let kinds = validate(&validators, &all);
    assert!(all.len() > 100, "a long conversation: {} events", all.len());
    assert!(
        kinds.len() >= 25,
        "{} kinds of event: {kinds:?}",
        kinds.len()
    );
}

/// Validates every event against the schema of its type; returns the types seen.
fn validate(validators: &HashMap<String, jsonschema::Validator>, all: &[String]) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for text in all {
        let v: Value = serde_json::from_str(text).unwrap();
        let ty = v["type"].as_str().unwrap().to_owned();
        let validator = validators
            .get(&ty)
            .unwrap_or_else(|| panic!("no schema for {ty}"));
        for e in validator.iter_errors(&v) {
            failures.push(format!("{ty} at {}: {e}", e.instance_path()));
        }
        if !kinds.contains(&ty) {
            kinds.push(ty);
        }
    }
    assert!(
        failures.is_empty(),
        "{} schema violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    kinds
}

fn user_text(text: &str) -> ClientEvent {
    raw(
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": text}]}}),
    )
}

/// Connects to a new simulator; the first events (`session.created`) go into `all`.
async fn session(
    options: SimulatorOptions,
    all: &mut Vec<String>,
) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    all.extend(exchange(&tx, &mut rx, vec![], &["session.created"]).await);
    (sim, tx, rx)
}

/// The `item` of the last event of type `ty`, in `events`.
fn last_item(events: &[String], ty: &str, index: usize) -> Value {
    events
        .iter()
        .rev()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .find(|v| v["type"] == ty)
        .map(|v| v["response"]["output"][index].clone())
        .unwrap()
}

/// Transcription, cancelled responses with partial items, barge-in, out-of-band
/// responses, parallel calls with invalid arguments, and MCP approval: every event of
/// them validates too.
#[tokio::test]
async fn conversation_events_validate_against_the_spec() {
    let validators = validators();
    let mut all = Vec::new();

    // Real time: transcribed speech, then cancelled audio, text and barge-in.
    let options = SimulatorOptions::default().reply_text(
        "One two three four five six seven eight nine ten, and then some more words so that \
         a cancel always lands before the end.",
    );
    let (_sim, tx, mut rx) = session(options, &mut all).await;
    let speech: Vec<i16> = std::iter::repeat_n(0, 12_000)
        .chain((0..24_000).map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16))
        .chain(std::iter::repeat_n(0, 16_800))
        .collect();
    let speak = |pcm: &[i16]| -> Vec<ClientEvent> {
        pcm.chunks(2400)
            .map(|c| InputAudioBufferAppend::from_pcm16(c).into())
            .collect()
    };
    let cancel = || vec![ResponseCancel::default().into()];
    let text =
        || raw(json!({"type": "response.create", "response": {"output_modalities": ["text"]}}));
    let steps: Vec<(Vec<ClientEvent>, &[&str])> = vec![
        (
            vec![raw(
                json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}}),
            )],
            &["session.updated"],
        ),
        (
            speak(&speech),
            &[
                "conversation.item.input_audio_transcription.completed",
                "response.output_audio_transcript.delta",
            ],
        ),
        (cancel(), &["response.done"]),
        (vec![text()], &["response.output_text.delta"]),
        (cancel(), &["response.done"]),
        (
            vec![ResponseCreate::default().into()],
            &["response.output_audio.delta"],
        ),
        (
            speak(&speech[..36_000]),
            &["response.done", "input_audio_buffer.speech_started"],
        ),
        (
            vec![raw(
                json!({"type": "response.create", "response": {"conversation": "none",
                "output_modalities": ["text"], "metadata": {"purpose": "test"}}}),
            )],
            &["response.done"],
        ),
    ];
    for (events, until) in steps {
        all.extend(exchange(&tx, &mut rx, events, until).await);
    }

    // Parallel calls (one with cut-off arguments), their outputs answered; a failed
    // transcription.
    let options = SimulatorOptions::default()
        .function_call("get_weather", r#"{"city":"Paris"}"#)
        .function_call("get_time", r#"{"city": "Par"#)
        .fail_transcription(true)
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = session(options, &mut all).await;
    let events = vec![user_text("Weather?"), ResponseCreate::default().into()];
    let calls = exchange(&tx, &mut rx, events, &["response.done"]).await;
    let outputs = (0..2)
        .map(|i| {
            let call = last_item(&calls, "response.done", i);
            raw(
                json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
                "call_id": call["call_id"], "output": "fine"}}),
            )
        })
        .chain([ResponseCreate::default().into()])
        .collect();
    all.extend(calls);
    all.extend(exchange(&tx, &mut rx, outputs, &["response.done"]).await);
    let events = vec![
        raw(
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
            "turn_detection": null, "transcription": {"model": "whisper-1"}}}}}),
        ),
        InputAudioBufferAppend::from_pcm16(&speech[12_000..36_000]).into(),
        raw(json!({"type": "input_audio_buffer.commit"})),
    ];
    all.extend(
        exchange(
            &tx,
            &mut rx,
            events,
            &["conversation.item.input_audio_transcription.failed"],
        )
        .await,
    );

    // MCP: approved, then denied.
    let options = SimulatorOptions::default()
        .mcp_approval("deepwiki", "ask_question", r#"{"q":"what"}"#)
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = session(options, &mut all).await;
    for approve in [true, false] {
        let events = vec![user_text("Ask it."), text()];
        let asked = exchange(&tx, &mut rx, events, &["response.done"]).await;
        let request = last_item(&asked, "response.done", 0);
        all.extend(asked);
        let events = vec![
            raw(
                json!({"type": "conversation.item.create", "item": {"type": "mcp_approval_response",
                "approval_request_id": request["id"], "approve": approve}}),
            ),
            text(),
        ];
        all.extend(exchange(&tx, &mut rx, events, &["response.done"]).await);
    }

    let kinds = validate(&validators, &all);
    for ty in [
        "rate_limits.updated",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "response.function_call_arguments.done",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ] {
        assert!(kinds.iter().any(|k| k == ty), "no {ty} in {kinds:?}");
    }
    let cancelled: Vec<Value> = all
        .iter()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .filter(|v| v["type"] == "response.done" && v["response"]["status"] == "cancelled")
        .collect();
    assert_eq!(cancelled.len(), 3, "{cancelled:#?}");
    assert!(
        cancelled
            .iter()
            .all(|d| d["response"]["output"][0]["status"] == "incomplete")
    );
}
