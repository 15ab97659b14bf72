//! Turning WebSocket text frames into [`ServerEvent`]s.
//!
//! The event's `type` is found without a full parse when it is a top-level field (the
//! common case), beta names are mapped to GA names, and the payload is parsed once into
//! its typed struct.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Deserialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{
    RawJson, Received, ResponseOutputAudioDelta, ResponseOutputAudioTranscriptDelta,
    ResponseOutputTextDelta, ServerEvent,
};

/// Parses one text frame. Never fails; see [`ServerEvent::from_json`].
pub(crate) fn parse_server_event(text: Utf8Bytes) -> ServerEvent {
    let raw = RawJson::from_frame(text.clone());
    let s = text.as_str();
    let event_type: Cow<'_, str> = match find_top_level_type(s) {
        Some(t) => Cow::Borrowed(t),
        None => match probe_type(s) {
            Ok(t) => t,
            Err(error) => {
                return ServerEvent::Malformed {
                    event_type: String::new(),
                    error,
                    raw,
                };
            }
        },
    };
    let ga = ga_name(&event_type);
    // The bulk of a session, without serde: audio with the base64 left in the frame, and
    // the text that comes with it.
    match ga {
        "response.output_audio.delta" => {
            if let Some(d) = ResponseOutputAudioDelta::parse_shared(s, &raw) {
                return ServerEvent::ResponseOutputAudioDelta(Received::with_raw(d, raw));
            }
        }
        "response.output_audio_transcript.delta" => {
            if let Some(d) = ResponseOutputAudioTranscriptDelta::parse_flat(s) {
                let d = Received::with_raw(d, raw);
                return ServerEvent::ResponseOutputAudioTranscriptDelta(d);
            }
        }
        "response.output_text.delta" => {
            if let Some(d) = ResponseOutputTextDelta::parse_flat(s) {
                return ServerEvent::ResponseOutputTextDelta(Received::with_raw(d, raw));
            }
        }
        _ => {}
    }
    match ServerEvent::parse_known(ga, s, raw.clone()) {
        Some(event) => event,
        None => ServerEvent::Unknown {
            event_type: event_type.into_owned(),
            raw,
        },
    }
}

/// Maps a beta event name to its GA name; GA names pass through.
pub(crate) fn ga_name(event_type: &str) -> &str {
    match event_type {
        "response.audio.delta" => "response.output_audio.delta",
        "response.audio.done" => "response.output_audio.done",
        "response.audio_transcript.delta" => "response.output_audio_transcript.delta",
        "response.audio_transcript.done" => "response.output_audio_transcript.done",
        "response.text.delta" => "response.output_text.delta",
        "response.text.done" => "response.output_text.done",
        other => other,
    }
}

/// Finds `"type":"…"` at the top level of an object without parsing it: the key must come
/// before any nested object or array, and the value must have no escapes. Returns `None`
/// when those conditions do not hold (the caller then parses properly).
fn find_top_level_type(s: &str) -> Option<&str> {
    const KEY: &[u8] = b"\"type\":\"";
    // Built once: building a searcher costs more than most searches here.
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let bytes = s.as_bytes();
    let start = memchr::memchr(b'{', bytes)?;
    let at = FINDER.find(&bytes[start + 1..])? + start + 1;
    // Any `{` or `[` before the key could mean it belongs to a nested value.
    if memchr::memchr2(b'{', b'[', &bytes[start + 1..at]).is_some() {
        return None;
    }
    let value_start = at + KEY.len();
    let end = value_start + memchr::memchr2(b'"', b'\\', &bytes[value_start..])?;
    if bytes[end] != b'"' {
        return None;
    }
    // Both ends sit on ASCII quotes, so they are char boundaries.
    Some(&s[value_start..end])
}

/// Reads the `type` field with a real JSON parse (other fields are skipped, not built).
fn probe_type(s: &str) -> Result<Cow<'_, str>, String> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        ty: Option<Cow<'a, str>>,
    }
    match serde_json::from_str::<Probe<'_>>(s) {
        Ok(Probe { ty: Some(t) }) => Ok(t),
        Ok(Probe { ty: None }) => Err("the event has no `type` field".to_owned()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event is moved several times between the socket and the caller and takes
    /// a slot in each queue: an event no larger than its common kinds need (the large,
    /// rare payloads are boxed) keeps that cheap.
    #[test]
    fn a_server_event_is_not_much_larger_than_an_audio_delta() {
        let event = std::mem::size_of::<ServerEvent>();
        let delta =
            std::mem::size_of::<crate::realtime::events::Received<ResponseOutputAudioDelta>>();
        assert!(event <= 256, "ServerEvent is {event} bytes");
        assert!(
            event <= 2 * delta,
            "ServerEvent is {event} bytes, an audio delta {delta}"
        );
    }

    #[test]
    fn finds_top_level_type_fast() {
        assert_eq!(
            find_top_level_type(r#"{"type":"error","event_id":"e"}"#),
            Some("error")
        );
        assert_eq!(
            find_top_level_type(r#" {"event_id":"e","type":"x.y"}"#),
            Some("x.y")
        );
        // Nested first: must not take the item's type.
        assert_eq!(
            find_top_level_type(r#"{"item":{"type":"message"},"type":"a"}"#),
            None
        );
        // Escapes and spacing: left to the full parse.
        assert_eq!(find_top_level_type(r#"{"type":"a\u002eb"}"#), None);
        assert_eq!(find_top_level_type(r#"{"type": "a"}"#), None);
    }

    #[test]
    fn audio_deltas_share_the_frame_and_match_the_plain_parse() {
        let json = r#"{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":1,"content_index":2,"delta":"AAABAP//"}"#;
        let raw = RawJson::from(json);
        let ServerEvent::ResponseOutputAudioDelta(d) = ServerEvent::parse(raw.clone()) else {
            panic!("not an audio delta")
        };
        let plain: ResponseOutputAudioDelta = serde_json::from_str(json).unwrap();
        assert_eq!(*d, plain);
        assert_eq!(d.pcm16().unwrap(), vec![0, 1, -1]);
        let inside = raw.as_str().as_bytes().as_ptr_range();
        assert!(inside.contains(&d.delta.as_ptr()), "the delta was copied");

        // A field this version does not know: parsed by serde, still sharing the frame.
        let raw = RawJson::from(json.replace(r#""delta""#, r#""later":[1],"delta""#));
        let ServerEvent::ResponseOutputAudioDelta(d) = ServerEvent::parse(raw.clone()) else {
            panic!("not an audio delta")
        };
        assert_eq!(*d, plain);
        let inside = raw.as_str().as_bytes().as_ptr_range();
        assert!(inside.contains(&d.delta.as_ptr()), "the delta was copied");

        // An escaped delta is unescaped into its own string.
        let ev = ServerEvent::from_json(json.replace("AP//", r#"AP\/\/"#));
        let ServerEvent::ResponseOutputAudioDelta(d) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(d.delta, "AAABAP//");
        // A missing field is reported by the plain parse.
        let ev = ServerEvent::from_json(json.replace(r#""item_id":"i","#, ""));
        let ServerEvent::Malformed { error, .. } = ev else {
            panic!("{ev:?}")
        };
        assert!(error.contains("item_id"), "{error}");
    }

    /// Text and transcript deltas parsed without serde come out as serde parses them,
    /// and the shapes the flat parse does not take still parse.
    #[test]
    fn text_deltas_match_the_plain_parse() {
        let bodies = [
            r#""event_id":"e","response_id":"r","item_id":"i","output_index":1,"content_index":2,"delta":"Hello, how""#,
            r#""response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"""#,
            r#""event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"I\u2019m \"here\"\n""#,
            r#""event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"é 😀","obfuscation":"x""#,
        ];
        for body in bodies {
            let text = format!(r#"{{"type":"response.output_text.delta",{body}}}"#);
            let ServerEvent::ResponseOutputTextDelta(d) = ServerEvent::from_json(text.clone())
            else {
                panic!("{text}")
            };
            let plain: ResponseOutputTextDelta = serde_json::from_str(&text).unwrap();
            assert_eq!(*d, plain, "{text}");
            let text = format!(r#"{{"type":"response.output_audio_transcript.delta",{body}}}"#);
            let ev = ServerEvent::from_json(text.clone());
            let ServerEvent::ResponseOutputAudioTranscriptDelta(d) = ev else {
                panic!("{text}")
            };
            let plain: ResponseOutputAudioTranscriptDelta = serde_json::from_str(&text).unwrap();
            assert_eq!(*d, plain, "{text}");
        }
        // The flat parse takes the usual shape itself.
        let text = format!(r#"{{"type":"response.output_text.delta",{}}}"#, bodies[0]);
        assert!(ResponseOutputTextDelta::parse_flat(&text).is_some());
        assert!(ResponseOutputTextDelta::parse_flat(&text.replace("\"r\"", "5")).is_none());
        // A field of the wrong type is still reported.
        let ev =
            ServerEvent::from_json(text.replace(r#""output_index":1"#, r#""output_index":"1""#));
        let ServerEvent::Malformed { error, .. } = ev else {
            panic!("{ev:?}")
        };
        assert!(error.contains("output_index"), "{error}");
    }

    #[test]
    fn nested_type_falls_back_to_the_real_parse() {
        let ev = ServerEvent::from_json(
            r#"{"event_id":"e","item":{"type":"message","role":"user","content":[]},"previous_item_id":null,"type":"conversation.item.added"}"#,
        );
        assert_eq!(ev.event_type(), "conversation.item.added");
        assert!(matches!(ev, ServerEvent::ConversationItemAdded(_)));
    }

    #[test]
    fn unknown_malformed_and_invalid() {
        match ServerEvent::from_json(r#"{"type":"response.hologram.delta","event_id":"e"}"#) {
            ServerEvent::Unknown { event_type, raw } => {
                assert_eq!(event_type, "response.hologram.delta");
                assert!(raw.as_str().contains("hologram"));
            }
            other => panic!("{other:?}"),
        }
        match ServerEvent::from_json(
            r#"{"type":"response.output_text.delta","event_id":"e","delta":5}"#,
        ) {
            ServerEvent::Malformed {
                event_type, error, ..
            } => {
                assert_eq!(event_type, "response.output_text.delta");
                assert!(
                    error.starts_with("delta: invalid type: integer `5`"),
                    "{error}"
                );
            }
            other => panic!("{other:?}"),
        }
        match ServerEvent::from_json("{not json") {
            ServerEvent::Malformed {
                event_type, error, ..
            } => {
                assert_eq!(event_type, "");
                assert!(error.starts_with("invalid JSON"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        match ServerEvent::from_json(r#"{"event_id":"e"}"#) {
            ServerEvent::Malformed { error, .. } => assert!(error.contains("no `type`"), "{error}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn beta_names_become_ga_variants() {
        let cases = [
            (
                "response.audio.delta",
                "response.output_audio.delta",
                r#","delta":"AAA=""#,
            ),
            ("response.audio.done", "response.output_audio.done", ""),
            (
                "response.audio_transcript.delta",
                "response.output_audio_transcript.delta",
                r#","delta":"hi""#,
            ),
            (
                "response.audio_transcript.done",
                "response.output_audio_transcript.done",
                r#","transcript":"hi""#,
            ),
            (
                "response.text.delta",
                "response.output_text.delta",
                r#","delta":"hi""#,
            ),
            (
                "response.text.done",
                "response.output_text.done",
                r#","text":"hi""#,
            ),
        ];
        for (beta, ga, extra) in cases {
            let json = format!(
                r#"{{"type":"{beta}","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0{extra}}}"#
            );
            let ev = ServerEvent::from_json(json.clone());
            assert_eq!(ev.event_type(), ga, "{beta}: {ev:?}");
            assert_eq!(ev.raw().unwrap().as_str(), json, "raw keeps the beta name");
            let back = serde_json::to_value(&ev).unwrap();
            assert_eq!(back["type"], ga);
        }
    }
}
