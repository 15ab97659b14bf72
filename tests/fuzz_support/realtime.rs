//! `server_event`, `client_event_roundtrip`, `schema_validate` and `audio_delta`: the
//! Realtime events' decoding, encoding and validation.

use serde_json::{Value, json};
use vivavoce::Error;
use vivavoce::realtime::{ClientEvent, ServerEvent};
use vivavoce::schema::{Side, Validator};

/// Any text decodes to some event (never a panic), keeping the text as sent; the delta
/// events read without serde come out as serde reads them.
pub fn server_event(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let event = ServerEvent::from_json(text.as_str());
    let _ = event.event_type();
    let _ = format!("{event:?}");
    if let Some(raw) = event.raw() {
        assert_eq!(raw.as_str(), text, "the raw JSON is the text received");
    }
    match &event {
        ServerEvent::ResponseOutputAudioDelta(d) => assert_eq!(**d, plain(&text), "{text}"),
        ServerEvent::ResponseOutputTextDelta(d) => assert_eq!(**d, plain(&text), "{text}"),
        ServerEvent::ResponseOutputAudioTranscriptDelta(d) => {
            assert_eq!(**d, plain(&text), "{text}")
        }
        _ => {}
    }
}

/// `text` parsed by serde alone, which must take it.
fn plain<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("serde refuses {text}: {e}"))
}

/// A client event read from JSON encodes to JSON that reads back as the same event, and
/// encodes the same again.
///
/// The input is first written out again as JSON, which drops repeated keys: with two
/// `type`s, the tag read is the first and the raw object keeps the last (RFC 8259 leaves
/// repeated names to each reader), so such text has no one meaning to round-trip.
pub fn client_event_roundtrip(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = value.to_string();
    let Ok(event) = serde_json::from_str::<ClientEvent>(&text) else {
        return;
    };
    let _ = event.event_type();
    let encoded = serde_json::to_string(&event).expect("a client event encodes");
    let decoded: ClientEvent =
        serde_json::from_str(&encoded).unwrap_or_else(|e| panic!("{encoded} does not decode: {e}"));
    assert_eq!(decoded, event, "decoded from {encoded}");
    let again = serde_json::to_string(&decoded).expect("a client event encodes");
    assert_eq!(again, encoded, "encoded twice");
}

/// Any JSON validates, either side, without a panic: the first byte picks the side and
/// (often) one of its event types for `type`, so that the schemas are reached.
pub fn schema_validate(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.into()));
    let validator = Validator::shared().expect("the schemas compile");
    let side = if head & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    if head & 2 == 0
        && let Value::Object(map) = &mut value
    {
        let types: Vec<&str> = validator.event_types(side).collect();
        let ty = types[usize::from(head >> 2) % types.len()];
        map.insert("type".into(), ty.into());
    }
    let verdict = validator.validate(side, &value);
    if let Err(violations) = &verdict {
        assert!(!violations.is_empty(), "a refusal says why");
        for v in violations {
            let _ = v.to_string();
        }
    }
    if side == Side::Client {
        let checked = validator.check_client(&value);
        assert_eq!(checked.is_ok(), verdict.is_ok(), "check_client agrees");
        if let Err(e) = checked {
            assert!(matches!(e, Error::InvalidEvent { .. }), "{e:?}");
            let _ = e.to_string();
        }
    }
}

/// Any text as an audio delta's base64: samples exactly when the text decodes to an even
/// number of bytes, else a typed error that appends nothing.
pub fn audio_delta(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let frame = json!({
        "type": "response.output_audio.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": text,
    });
    let ServerEvent::ResponseOutputAudioDelta(event) = ServerEvent::from_json(frame.to_string())
    else {
        panic!("not read as an audio delta: {frame}");
    };
    let mut samples = vec![7i16];
    let got = event.pcm16_into(&mut samples);
    match (event.bytes(), got) {
        (Ok(bytes), Ok(())) => {
            assert_eq!(bytes.len() % 2, 0, "an odd byte count decoded");
            let want: Vec<i16> = std::iter::once(7)
                .chain(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                )
                .collect();
            assert_eq!(samples, want);
            assert_eq!(event.pcm16().expect("decodes again"), want[1..]);
        }
        (Ok(bytes), Err(e)) => {
            assert_eq!(
                bytes.len() % 2,
                1,
                "valid base64 of an even count refused: {e}"
            );
            assert!(matches!(e, Error::Decode { .. }), "{e:?}");
            assert!(e.to_string().contains("odd number"), "{e}");
            assert_eq!(samples, [7], "a refused delta appends nothing");
        }
        (Err(_), Err(e)) => {
            assert!(matches!(e, Error::Decode { .. }), "{e:?}");
            assert!(e.to_string().contains("not valid base64"), "{e}");
            assert_eq!(samples, [7], "a refused delta appends nothing");
        }
        (Err(_), Ok(())) => panic!("invalid base64 decoded as {samples:?}"),
    }
}
