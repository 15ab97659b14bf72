//! The events of one simulated response, planned ahead with their send times.

use std::time::Duration;

use serde_json::{Value, json};

use super::options::Pace;
use super::voice::{self, Format, encode};

/// Audio per `response.output_audio.delta`.
const CHUNK_MS: u64 = 100;

/// What a response will say and how.
pub(crate) struct Plan<'a> {
    pub(crate) response_id: &'a str,
    pub(crate) item_id: &'a str,
    pub(crate) conversation_id: &'a str,
    pub(crate) text: &'a str,
    pub(crate) audio: bool,
    pub(crate) pace: Pace,
    pub(crate) format: Format,
}

/// A planned response: its events (without `event_id`s) with their send times. Its items
/// join the conversation as their `conversation.item.added` goes out.
pub(crate) struct Planned {
    pub(crate) events: Vec<(Duration, Value)>,
}

/// Plans a spoken (or text) answer.
pub(crate) fn plan(p: &Plan<'_>) -> Planned {
    let (rid, iid) = (p.response_id, p.item_id);
    let modalities = if p.audio {
        json!(["audio"])
    } else {
        json!(["text"])
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({ "object": "realtime.response", "id": rid, "status": status, "status_details": null,
            "output": output, "conversation_id": p.conversation_id, "output_modalities": modalities,
            "max_output_tokens": "inf", "usage": usage, "metadata": null })
    };
    let part_type = if p.audio { "audio" } else { "text" };
    let empty_part = if p.audio {
        json!({ "type": "audio", "transcript": "" })
    } else {
        json!({ "type": "text", "text": "" })
    };
    let item = |status: &str, content: Value| json!({ "id": iid, "object": "realtime.item", "type": "message", "status": status, "role": "assistant", "content": content });
    let ids = json!({ "response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0 });
    let with_ids = |mut v: Value| {
        for (k, val) in ids.as_object().expect("object") {
            v[k] = val.clone();
        }
        v
    };

    let mut events = Vec::new();
    let at0 = Duration::ZERO;
    events.push((at0, json!({ "type": "response.created", "response": response("in_progress", json!([]), Value::Null) })));
    events.push((at0, json!({ "type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item("in_progress", json!([])) })));
    events.push((at0, json!({ "type": "conversation.item.added", "previous_item_id": null, "item": item("in_progress", json!([])) })));
    events.push((
        at0,
        with_ids(json!({ "type": "response.content_part.added", "part": empty_part })),
    ));

    let words: Vec<&str> = p.text.split_inclusive(' ').collect();
    let mut t = at0;
    if p.audio {
        let pcm = voice::synthesize(p.text);
        let per_chunk = (voice::RATE as u64 * CHUNK_MS / 1000) as usize;
        let chunks: Vec<&[i16]> = pcm.chunks(per_chunk).collect();
        let mut word = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            if p.pace == Pace::RealTime {
                t = Duration::from_millis(CHUNK_MS * i as u64);
            }
            let delta = base64_simd::STANDARD.encode_to_string(encode(p.format, chunk));
            events.push((
                t,
                with_ids(json!({ "type": "response.output_audio.delta", "delta": delta })),
            ));
            // Spread the transcript over the audio.
            let until = (i + 1) * words.len() / chunks.len();
            if until > word {
                let text: String = words[word..until].concat();
                word = until;
                events.push((
                    t,
                    with_ids(
                        json!({ "type": "response.output_audio_transcript.delta", "delta": text }),
                    ),
                ));
            }
        }
        events.push((t, with_ids(json!({ "type": "response.output_audio.done" }))));
        events.push((
            t,
            with_ids(
                json!({ "type": "response.output_audio_transcript.done", "transcript": p.text }),
            ),
        ));
    } else {
        for (i, w) in words.iter().enumerate() {
            if p.pace == Pace::RealTime {
                t = Duration::from_millis(30 * i as u64);
            }
            events.push((
                t,
                with_ids(json!({ "type": "response.output_text.delta", "delta": w })),
            ));
        }
        events.push((
            t,
            with_ids(json!({ "type": "response.output_text.done", "text": p.text })),
        ));
    }
    let part = if p.audio {
        json!({ "type": part_type, "transcript": p.text })
    } else {
        json!({ "type": part_type, "text": p.text })
    };
    events.push((
        t,
        with_ids(json!({ "type": "response.content_part.done", "part": part })),
    ));
    let content = if p.audio {
        json!([{ "type": "output_audio", "transcript": p.text }])
    } else {
        json!([{ "type": "output_text", "text": p.text }])
    };
    let done_item = item("completed", content);
    events.push((
        t,
        json!({ "type": "conversation.item.done", "previous_item_id": null, "item": done_item }),
    ));
    events.push((t, json!({ "type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": done_item })));
    let out_tokens = words.len() as u64 * if p.audio { 4 } else { 1 };
    let usage = json!({ "total_tokens": 100 + out_tokens, "input_tokens": 100, "output_tokens": out_tokens,
        "input_token_details": { "text_tokens": 100, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0 },
        "output_token_details": { "text_tokens": words.len(), "audio_tokens": out_tokens - words.len() as u64 } });
    events.push((t, json!({ "type": "response.done", "response": response("completed", json!([done_item]), usage) })));
    Planned { events }
}

/// Plans a response that calls a function: the item, then its arguments in pieces.
pub(crate) fn plan_call(p: &Plan<'_>, call_id: &str, name: &str, arguments: &str) -> Planned {
    let (rid, iid) = (p.response_id, p.item_id);
    let item = |status: &str, args: &str| {
        json!({ "id": iid, "object": "realtime.item", "type": "function_call", "status": status,
            "call_id": call_id, "name": name, "arguments": args })
    };
    let response = |status: &str, output: Value| {
        json!({ "object": "realtime.response", "id": rid, "status": status, "status_details": null,
            "output": output, "conversation_id": p.conversation_id, "output_modalities": ["audio"],
            "max_output_tokens": "inf", "usage": null, "metadata": null })
    };
    let at = Duration::ZERO;
    let mut events = vec![
        (
            at,
            json!({ "type": "response.created", "response": response("in_progress", json!([])) }),
        ),
        (
            at,
            json!({ "type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item("in_progress", "") }),
        ),
        (
            at,
            json!({ "type": "conversation.item.added", "previous_item_id": null, "item": item("in_progress", "") }),
        ),
    ];
    // The arguments in three pieces, split on character boundaries.
    let chars: Vec<char> = arguments.chars().collect();
    for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
        let delta: String = piece.iter().collect();
        events.push((
            at,
            json!({ "type": "response.function_call_arguments.delta", "response_id": rid,
            "item_id": iid, "output_index": 0, "call_id": call_id, "delta": delta }),
        ));
    }
    let done = item("completed", arguments);
    events.push((
        at,
        json!({ "type": "response.function_call_arguments.done", "response_id": rid, "item_id": iid,
        "output_index": 0, "call_id": call_id, "name": name, "arguments": arguments }),
    ));
    events.push((
        at,
        json!({ "type": "conversation.item.done", "previous_item_id": null, "item": done }),
    ));
    events.push((at, json!({ "type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": done })));
    events.push((
        at,
        json!({ "type": "response.done", "response": response("completed", json!([done])) }),
    ));
    Planned { events }
}

/// `response.done` for a response cancelled before its end.
/// `reason` is `client_cancelled` or `turn_detected`.
pub(crate) fn cancelled(response_id: &str, conversation_id: &str, reason: &str) -> Value {
    json!({ "type": "response.done", "response": { "object": "realtime.response", "id": response_id,
        "status": "cancelled", "status_details": { "type": "cancelled", "reason": reason },
        "output": [], "conversation_id": conversation_id, "usage": { "total_tokens": 0, "input_tokens": 0,
        "output_tokens": 0 }, "metadata": null } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(events: &[(Duration, Value)]) -> Vec<String> {
        events
            .iter()
            .map(|(_, e)| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn audio_plan_is_ordered_paced_and_complete() {
        let p = Plan {
            response_id: "r",
            item_id: "i",
            conversation_id: "c",
            text: "one two three",
            audio: true,
            pace: Pace::RealTime,
            format: Format::Pcm,
        };
        let Planned { events, .. } = plan(&p);
        let ms = voice::synthesize("one two three").len() as u64 * 1000 / voice::RATE as u64;
        let t = types(&events);
        assert_eq!(t[0], "response.created");
        assert_eq!(t.last().unwrap(), "response.done");
        assert!(t.iter().any(|x| x == "response.output_audio.delta"));
        let transcript: String = events
            .iter()
            .filter(|(_, e)| e["type"] == "response.output_audio_transcript.delta")
            .map(|(_, e)| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(transcript, "one two three");
        let deltas = t
            .iter()
            .filter(|x| *x == "response.output_audio.delta")
            .count() as u64;
        assert_eq!(deltas, ms.div_ceil(CHUNK_MS));
        assert!(
            events.windows(2).all(|w| w[0].0 <= w[1].0),
            "send times never go back"
        );
        assert_eq!(
            events.last().unwrap().0,
            Duration::from_millis(CHUNK_MS * (deltas - 1))
        );
    }

    #[test]
    fn text_plan_has_no_audio() {
        let p = Plan {
            response_id: "r",
            item_id: "i",
            conversation_id: "c",
            text: "a b",
            audio: false,
            pace: Pace::Fast,
            format: Format::Pcm,
        };
        let Planned { events, .. } = plan(&p);
        let t = types(&events);
        assert!(!t.iter().any(|x| x.contains("audio")));
        assert_eq!(
            t.iter()
                .filter(|x| *x == "response.output_text.delta")
                .count(),
            2
        );
        assert!(events.iter().all(|(at, _)| at.is_zero()));
    }
}
