//! Every Realtime event example of the OpenAI spec (copied into `schemas/examples/` by
//! `cargo xtask schemas`) parses to its typed variant and serialises back to equivalent
//! JSON: equal after dropping `null`-valued keys (an absent optional field and a `null`
//! one mean the same to the API) and comparing numbers by value (`1` and `1.0`).

use serde_json::{Map, Value};
use vivavoce::realtime::{ClientEvent, ServerEvent};

fn examples(side: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/schemas/examples/{side}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let map: Map<String, Value> = serde_json::from_str(&text).unwrap();
    map.into_iter()
        .map(|(ty, entry)| (ty, entry["example"].as_str().unwrap().to_owned()))
        .collect()
}

fn equivalent(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), equivalent(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(equivalent).collect()),
        Value::Number(n) => serde_json::Number::from_f64(n.as_f64().unwrap())
            .map(Value::Number)
            .unwrap(),
        other => other.clone(),
    }
}

/// Makes the spec's broken examples parse: `//` comments and trailing commas removed, and
/// where one example holds several events, the first taken.
fn repair(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push('\n');
            }
            _ => out.push(c),
        }
    }
    // Trailing commas.
    let mut fixed = String::new();
    let bytes: Vec<char> = out.chars().collect();
    for (i, &c) in bytes.iter().enumerate() {
        if c == ',' {
            let next = bytes[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        fixed.push(c);
    }
    let first = serde_json::Deserializer::from_str(&fixed)
        .into_iter::<Value>()
        .next()?
        .ok()?;
    Some(first.to_string())
}

fn check_server(ty: &str, text: &str) {
    let original: Value = serde_json::from_str(text).unwrap();
    let event = ServerEvent::from_json(text);
    assert_eq!(event.event_type(), ty, "{ty}: parsed as {event:?}");
    assert!(
        !matches!(
            event,
            ServerEvent::Unknown { .. } | ServerEvent::Malformed { .. }
        ),
        "{ty}: not typed: {event:?}"
    );
    assert_eq!(
        event.raw().map(|r| r.as_str()),
        Some(text),
        "{ty}: raw JSON kept"
    );
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(
        equivalent(&back),
        equivalent(&original),
        "{ty}: round trip differs"
    );
}

fn check_client(ty: &str, text: &str) {
    let original: Value = serde_json::from_str(text).unwrap();
    let event: ClientEvent = serde_json::from_str(text).unwrap();
    assert!(
        !matches!(event, ClientEvent::Raw(_)),
        "{ty}: not typed: {event:?}"
    );
    assert_eq!(event.event_type(), ty);
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(
        equivalent(&back),
        equivalent(&original),
        "{ty}: round trip differs"
    );
}

#[test]
fn every_valid_server_example_round_trips() {
    let all = examples("server");
    assert_eq!(all.len(), 46, "the GA union has 46 server events");
    assert_eq!(ServerEvent::TYPES.len(), 46);
    let mut skipped = Vec::new();
    for (ty, text) in &all {
        assert!(
            ServerEvent::TYPES.contains(&ty.as_str()),
            "{ty} is not modelled"
        );
        if serde_json::from_str::<Value>(text).is_err() {
            skipped.push(ty.clone());
            continue;
        }
        check_server(ty, text);
    }
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "input_audio_buffer.dtmf_event_received",
            "response.created",
            "session.created",
            "session.updated"
        ],
        "examples that are not valid JSON in spec 2.3.0"
    );
}

#[test]
fn every_valid_client_example_round_trips() {
    let all = examples("client");
    assert_eq!(all.len(), 11, "the GA union has 11 client events");
    assert_eq!(ClientEvent::TYPES.len(), 11);
    let mut skipped = Vec::new();
    for (ty, text) in &all {
        assert!(
            ClientEvent::TYPES.contains(&ty.as_str()),
            "{ty} is not modelled"
        );
        if serde_json::from_str::<Value>(text).is_err() {
            skipped.push(ty.clone());
            continue;
        }
        check_client(ty, text);
    }
    assert_eq!(
        skipped,
        ["response.create"],
        "examples that are not valid JSON in spec 2.3.0"
    );
}

/// The skipped examples include the most important ones (`session.created`); repaired,
/// they must round-trip too.
#[test]
fn repaired_examples_round_trip() {
    for (ty, text) in examples("server") {
        if serde_json::from_str::<Value>(&text).is_ok() {
            continue;
        }
        let mut fixed = repair(&text).unwrap_or_else(|| panic!("{ty}: cannot repair"));
        // The spec's dtmf example has a stray space in its type.
        fixed = fixed.replace("\" input_audio_buffer.", "\"input_audio_buffer.");
        check_server(&ty, &fixed);
    }
    for (ty, text) in examples("client") {
        if serde_json::from_str::<Value>(&text).is_ok() {
            continue;
        }
        check_client(
            &ty,
            &repair(&text).unwrap_or_else(|| panic!("{ty}: cannot repair")),
        );
    }
}

#[test]
fn response_create_with_out_of_band_input_is_typed() {
    let text = r#"{"type":"response.create","response":{"instructions":"Provide a concise answer.","tools":[],"conversation":"none","output_modalities":["text"],"metadata":{"response_purpose":"summarization"},"input":[{"type":"item_reference","id":"item_12345"},{"type":"message","role":"user","content":[{"type":"input_text","text":"Summarize the above message in one sentence."}]}]}}"#;
    check_client("response.create", text);
}
