//! Fast paths for the events that make up nearly all of a long answer: a Chat Completions
//! chunk whose choices carry plain text, and a Responses API text delta.
//!
//! Each reads its event with [`Scan`] and returns `None` for anything outside the plain
//! shape (tool calls, log probabilities, usage, an error, content as a list of parts,
//! repeated fields, or text that is not JSON); the caller then reads the event with
//! serde. What a fast path returns is exactly what serde would make of the same text.

use std::borrow::Cow;

use super::delta::{ChoiceDelta, Delta, Names, share};
use super::scan::{Scan, once};

/// A `chat.completion.chunk` whose choices hold only text, role, refusal, reasoning and
/// finish reason.
pub(super) fn chunk(data: &str, names: &mut Names) -> Option<Delta> {
    let mut s = Scan::new(data);
    let (mut id, mut model) = (None, None);
    let mut choices = Vec::new();
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "id" => {
            once(&mut seen, 1)?;
            id = s.opt_str()?;
            Some(())
        }
        "model" => {
            once(&mut seen, 2)?;
            model = s.opt_str()?;
            Some(())
        }
        "choices" => {
            once(&mut seen, 4)?;
            choices.reserve_exact(1);
            s.array(|s| {
                choices.push(choice(s)?);
                Some(())
            })
        }
        // Usage and errors are rare (the last chunk, a failure): serde reads those.
        "usage" | "error" => {
            once(&mut seen, if key == "usage" { 8 } else { 16 })?;
            s.null()?.then_some(())
        }
        _ => s.skip(),
    })?;
    s.end()?;
    Some(Delta {
        id: share(&mut names.id, id),
        model: share(&mut names.model, model),
        choices,
        usage: None,
        error: None,
    })
}

/// One choice, read as `choice::ChoiceVisitor` reads it: later fields win, `null` leaves a
/// field as it was where serde's reading does.
fn choice(s: &mut Scan<'_>) -> Option<ChoiceDelta> {
    let mut c = ChoiceDelta::default();
    s.object(|s, key| match key {
        "index" => {
            c.index = if s.null()? { 0 } else { s.u32()? };
            Some(())
        }
        "delta" | "message" => {
            if !s.null()? {
                delta(s, &mut c)?;
            }
            Some(())
        }
        "finish_reason" => {
            c.finish_reason = s.opt_str()?.map(Cow::into_owned);
            Some(())
        }
        "logprobs" => s.null()?.then_some(()),
        _ => s.skip(),
    })?;
    Some(c)
}

/// A choice's `delta` (or `message`) object.
fn delta(s: &mut Scan<'_>, c: &mut ChoiceDelta) -> Option<()> {
    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    let (mut reasoning_content, mut reasoning) = (None, None);
    // `content` as a list of parts (with its thinking) is serde's to read: `opt_str` gives
    // up on it, so reasoning here comes from the fields alone.
    s.object(|s, key| {
        match key {
            "content" => {
                if let Some(text) = s.opt_str()? {
                    c.content = Some(text.into_owned());
                }
            }
            "role" => c.role = owned(s.opt_str()?),
            "refusal" => c.refusal = owned(s.opt_str()?),
            "tool_calls" => {
                s.null()?.then_some(())?;
                c.tool_calls = Vec::new();
            }
            "reasoning_content" => reasoning_content = owned(s.opt_str()?),
            "reasoning" => reasoning = owned(s.opt_str()?),
            _ => s.skip()?,
        }
        Some(())
    })?;
    c.reasoning = reasoning_content.or(reasoning);
    Some(())
}

/// A Responses API event that adds text (`response.output_text.delta`,
/// `response.refusal.delta`, `response.reasoning_summary_text.delta`,
/// `response.reasoning_text.delta`) as the choice it adds: its `type` and `delta`, the
/// other fields skipped (as serde's reading ignores them).
pub(super) fn responses_text(data: &str) -> Option<ChoiceDelta> {
    let mut s = Scan::new(data);
    let (mut kind, mut delta) = (None, None);
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "type" => {
            once(&mut seen, 1)?;
            kind = Some(s.plain_str()?);
            Some(())
        }
        "delta" => {
            once(&mut seen, 2)?;
            delta = Some(s.str()?);
            Some(())
        }
        _ => s.skip(),
    })?;
    s.end()?;
    let delta = Some(delta?.into_owned());
    let mut c = ChoiceDelta::default();
    match kind? {
        "response.output_text.delta" => c.content = delta,
        "response.refusal.delta" => c.refusal = delta,
        "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
            c.reasoning = delta;
        }
        _ => return None,
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::super::fuzz::check_fast_paths;

    const CHUNK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" caf\u00e9 \"x\"\n"},"logprobs":null,"finish_reason":null}],"obfuscation":"w10"}"#;
    const TEXT: &str = r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel\tlo","logprobs":[]}"#;

    #[test]
    fn plain_chunks_take_the_fast_path_and_read_as_serde_does() {
        for data in [
            CHUNK,
            "{}",
            r#" { "choices" : [ ] , "id" : null } "#,
            r#"{"choices":[{"delta":{"role":"assistant","content":"","refusal":null}}]}"#,
            r#"{"choices":[{"index":null,"delta":null,"finish_reason":"stop"}],"usage":null}"#,
            r#"{"choices":[{"index":1,"delta":{"reasoning_content":"a","reasoning":"b"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"b","content":null,"tool_calls":null}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"delta":{"role":"x"}}],"x":[{"y":[1e5,-0.0,true]}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"message":{"content":"b"}}]}"#,
            r#"{"choices":[{"finish_reason":"stop","finish_reason":null}]}"#,
        ] {
            assert!(check_fast_paths(data).chunk, "{data}");
        }
    }

    #[test]
    fn text_events_take_the_fast_path_and_read_as_serde_does() {
        for data in [
            TEXT,
            r#"{"delta":"x","type":"response.refusal.delta"}"#,
            r#"{"type":"response.reasoning_text.delta","delta":"\ud83d\ude00"}"#,
            r#"{"type":"response.reasoning_summary_text.delta","delta":""}"#,
        ] {
            assert!(check_fast_paths(data).responses, "{data}");
        }
    }

    /// Text that is not JSON, or JSON serde refuses: its error, with where, is the answer.
    const NOT_JSON: &[&str] = &[
        r#"{"\u0069d":"a"}"#,
        "{\"id\":\"a\u{1}\"}",
        r#"{"id":"a"} x"#,
        r#"{"id":"a""#,
        r#"{"x":01}"#,
        r#"{"x":"\ud800"}"#,
        r#"{"x":[1,]}"#,
        "[]",
        "",
    ];

    #[test]
    fn other_chunks_are_left_to_serde() {
        let chunks = [
            // Shapes the fast path does not read.
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c"}]}}]}"#,
            r#"{"choices":[{"delta":{"content":[{"type":"text","text":"a"}]}}]}"#,
            r#"{"choices":[{"logprobs":{"content":[]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"error":{"message":"overloaded"}}"#,
            // What serde refuses.
            r#"{"id":"a","id":"b"}"#,
            r#"{"usage":null,"usage":null}"#,
            r#"{"choices":null}"#,
            r#"{"choices":[{"index":-1}]}"#,
            r#"{"choices":[{"index":1.5}]}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":[1]}"#,
        ];
        for data in chunks.iter().chain(NOT_JSON) {
            assert!(!check_fast_paths(data).chunk, "{data}");
        }
    }

    #[test]
    fn other_responses_events_are_left_to_serde() {
        let events = [
            r#"{"type":"response.completed","response":{}}"#,
            r#"{"type":"response.output_text.delta"}"#,
            r#"{"type":"response.output_text.delta","delta":null}"#,
            r#"{"type":"response.output_text.delta","delta":"a","delta":"b"}"#,
            r#"{"type":"response.output_text.delta","type":"x","delta":"a"}"#,
            r#"{"type":"response.function_call_arguments.delta","delta":"{"}"#,
        ];
        for data in events.iter().chain(NOT_JSON) {
            assert!(!check_fast_paths(data).responses, "{data}");
        }
    }
}
