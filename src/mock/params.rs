//! Which parameters `session.update` accepts, to reject unknown ones as the API does.

use serde_json::Value;

/// The keys `session.update` accepts, by path.
fn allowed_keys(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "session" => &[
            "type",
            "model",
            "output_modalities",
            "instructions",
            "audio",
            "include",
            "tracing",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "reasoning",
            "max_output_tokens",
            "truncation",
            "prompt",
        ],
        "session.audio" => &["input", "output"],
        "session.audio.input" => &[
            "format",
            "transcription",
            "noise_reduction",
            "turn_detection",
        ],
        "session.audio.output" => &["format", "voice", "speed"],
        _ => return None,
    })
}

/// The first key, depth first, that `session.update` would reject as unknown.
pub(crate) fn unknown_parameter(path: &str, value: &Value) -> Option<String> {
    let (Some(allowed), Some(map)) = (allowed_keys(path), value.as_object()) else {
        return None;
    };
    for (k, v) in map {
        let here = format!("{path}.{k}");
        if !allowed.contains(&k.as_str()) {
            return Some(here);
        }
        if let Some(found) = unknown_parameter(&here, v) {
            return Some(found);
        }
    }
    None
}
