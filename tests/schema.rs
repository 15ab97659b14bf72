//! Schema validation: the spec's examples, hand-made invalid events, a live connection to
//! the simulator with validation on, server-event warnings, and the CLI.
#![cfg(all(feature = "schema", feature = "mock"))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vivavoce::Error;
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{
    ConversationItemCreate, ConversationItemTruncate, InputAudioBufferAppend, ResponseCreate,
    SessionUpdate, VoiceName,
};
use vivavoce::realtime::{ClientEvent, Item, ServerEvent, Session, connect};
use vivavoce::schema::{Side, Validator};

fn examples(side: &str) -> Vec<(String, Value)> {
    let path = format!(
        "{}/schemas/examples/{side}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.as_object()
        .unwrap()
        .iter()
        .filter_map(|(ty, e)| {
            let v = serde_json::from_str(e["example"].as_str()?).ok()?;
            Some((ty.clone(), v))
        })
        .collect()
}

#[test]
fn every_valid_spec_example_passes() {
    let v = Validator::shared().unwrap();
    for (side, name, min) in [(Side::Client, "client", 10), (Side::Server, "server", 42)] {
        let all = examples(name);
        assert!(
            all.len() >= min,
            "{name}: only {} examples parse",
            all.len()
        );
        let mut stale = 0;
        let failures: Vec<String> = all
            .iter()
            .filter_map(|(ty, example)| {
                let errors = v.validate(side, example).err()?;
                // Two of the spec's examples still show beta assistant content
                // (`"type": "audio"` / `"text"`, GA: `output_audio` / `output_text`), which
                // its own GA item schema rejects. They must fail there and only there.
                let beta = |t: &str| {
                    example["item"]["content"][0]["type"] == t
                        && errors.len() == 1
                        && errors[0].instance_path == "/item"
                };
                if (ty == "conversation.item.retrieved" && beta("audio"))
                    || (ty == "response.output_item.done" && beta("text"))
                {
                    stale += 1;
                    return None;
                }
                Some(format!("{name} {ty}: {}", errors[0]))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(stale, if side == Side::Server { 2 } else { 0 });
    }
}

/// The first violation's path and message for an outgoing event.
fn violation(event: Value) -> (String, String) {
    match Validator::shared().unwrap().check_client(&event) {
        Err(Error::InvalidEvent {
            instance_path,
            message,
            ..
        }) => (instance_path.into(), message),
        other => panic!("expected InvalidEvent for {event}, got {other:?}"),
    }
}

#[test]
fn invalid_events_fail_at_the_right_place() {
    let (path, msg) = violation(json!({"type": "session.update",
        "session": {"type": "realtime", "instructions": "hi", "voise": "alloy"}}));
    assert_eq!(path, "/session");
    assert!(msg.contains("voise"), "{msg}");

    let (path, msg) = violation(json!({"type": "session.update",
        "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/mp3"}}}}}));
    assert!(path.starts_with("/session/audio/output/format"), "{path}");
    assert!(
        msg.contains("audio/mp3") || msg.contains("not valid"),
        "{msg}"
    );

    let (path, msg) = violation(
        json!({"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 1500}),
    );
    assert_eq!(path, "");
    assert!(msg.contains("\"item_id\" is a required property"), "{msg}");

    let (path, msg) = violation(
        json!({"type": "conversation.item.truncate", "item_id": "msg_1",
        "content_index": 0, "audio_end_ms": -5}),
    );
    assert_eq!(path, "/audio_end_ms");
    assert!(msg.contains("minimum"), "{msg}");

    let (path, msg) = violation(json!({"type": "input_audio_buffer.append", "audio": [1, 2, 3]}));
    assert_eq!(path, "/audio");
    assert!(msg.contains("not of type \"string\""), "{msg}");

    let (path, msg) = violation(json!({"type": "input_audio_buffer.apend", "audio": ""}));
    assert_eq!(path, "/type");
    assert!(
        msg.contains("unknown client event type 'input_audio_buffer.apend'"),
        "{msg}"
    );
}

#[test]
fn typed_events_are_valid_as_built() {
    let v = Validator::shared().unwrap();
    let events: Vec<ClientEvent> = vec![
        SessionUpdate::default().into(),
        SessionUpdate::new(
            Session::default()
                .instructions("Be brief.")
                .voice(VoiceName::Marin)
                .input_transcription("gpt-4o-transcribe")
                .push_to_talk(),
        )
        .into(),
        ConversationItemCreate::new(Item::user_text("hi")).into(),
        ConversationItemTruncate::new("msg_1", 0, 1500).into(),
        InputAudioBufferAppend::from_pcm16(&[0, 1, -1]).into(),
        ResponseCreate::default().into(),
    ];
    for e in events {
        let json = serde_json::to_value(&e).unwrap();
        v.check_client(&json)
            .unwrap_or_else(|err| panic!("{json}: {err}"));
    }
}

#[tokio::test]
async fn an_invalid_event_never_reaches_the_server() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let options = sim
        .connect_options()
        .check(Arc::new(Validator::shared().unwrap()));
    let (tx, mut rx) = connect(options).await.unwrap();
    assert!(matches!(
        rx.recv().await,
        Some(ServerEvent::SessionCreated(_))
    ));
    // A misspelt field in a raw event, and a bad typed one: refused before sending.
    let raw = ClientEvent::Raw(
        json!({"type": "session.update", "session": {"type": "realtime", "instructons": "x"}}),
    );
    match tx.send(raw).await {
        Err(Error::InvalidEvent {
            event_type,
            instance_path,
            message,
        }) => {
            assert_eq!(
                (&*event_type, &*instance_path),
                ("session.update", "/session")
            );
            assert!(message.contains("instructons"));
        }
        other => panic!("{other:?}"),
    }
    let err = tx.send(ConversationItemTruncate::new("", 0, 0)).await.err();
    assert!(
        err.is_none(),
        "an empty id is still a string: the schema allows it"
    );
    // The server saw neither: its next words answer the valid event that follows.
    tx.send(SessionUpdate::default()).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ServerEvent::SessionUpdated(_) => break,
            ServerEvent::ErrorEvent(e) if e.error.message.contains("instructons") => {
                panic!("the invalid event reached the server: {:?}", e.error)
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn server_events_breaking_their_schema_come_with_a_warning() {
    let server = support::Server::start(|mut c: support::Conn| async move {
        c.session_created().await;
        // `audio_end_ms` must be an integer.
        c.send(
            json!({"type": "conversation.item.truncated", "event_id": "e1", "item_id": "i",
            "content_index": 0, "audio_end_ms": "soon"}),
        )
        .await;
        c.send(json!({"type": "input_audio_buffer.cleared", "event_id": "e2"}))
            .await;
        while c.recv().await.is_some() {}
    })
    .await;
    let options = support::options(&server).check(Arc::new(Validator::shared().unwrap()));
    let (_tx, mut rx) = connect(options).await.unwrap();
    let mut kinds = Vec::new();
    let mut warning = None;
    while kinds.len() < 4 {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerEvent::Warning(w) = &ev {
            warning = Some(w.clone());
        }
        kinds.push(ev.event_type().to_owned());
    }
    assert_eq!(
        kinds,
        [
            "session.created",
            "vivavoce.warning",
            "conversation.item.truncated",
            "input_audio_buffer.cleared"
        ]
    );
    let w = warning.unwrap();
    assert_eq!(w.event_type, "conversation.item.truncated");
    assert!(w.message.contains("/audio_end_ms"), "{}", w.message);
}

#[test]
fn the_cli_reports_each_invalid_line() {
    let dir = std::env::temp_dir().join(format!("vivavoce-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.jsonl");
    std::fs::write(
        &file,
        "{\"type\":\"input_audio_buffer.append\",\"audio\":\"AAAA\"}\n\
         {\"type\":\"input_audio_buffer.append\",\"audio\":5}\n\
         \n\
         not json\n\
         {\"type\":\"response.create\"}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vivavoce"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["validate", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(":2: client input_audio_buffer.append: /audio: 5 is not of type \"string\" (rule /properties/audio/type)"), "{stdout}");
    assert!(stdout.contains(":4: not JSON"), "{stdout}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    std::fs::write(
        &file,
        "{\"type\":\"input_audio_buffer.cleared\",\"event_id\":\"e\"}\n",
    )
    .unwrap();
    assert_eq!(
        run(&["validate", file.to_str().unwrap(), "--server"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["validate", file.to_str().unwrap()]).status.code(),
        Some(1),
        "a server event is not a client event"
    );
    assert_eq!(run(&["validate"]).status.code(), Some(2));
}
