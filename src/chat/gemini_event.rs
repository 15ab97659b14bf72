//! How a Gemini `GenerateContentResponse` is read: serde's types for every shape, and a
//! fast path (with `chat::scan`) for the plain text events that make up nearly all of a
//! long answer. `chat::gemini` turns either into a [`Delta`](super::delta::Delta).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::scan::{Scan, once};

/// One `GenerateContentResponse`: an event of the stream, or a whole answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(expecting = "a Gemini GenerateContentResponse object")]
pub(super) struct Response<'a> {
    #[serde(default, borrow)]
    pub(super) candidates: Vec<Candidate<'a>>,
    pub(super) prompt_feedback: Option<PromptFeedback>,
    pub(super) usage_metadata: Option<RawUsage>,
    #[serde(borrow)]
    pub(super) model_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) response_id: Option<Cow<'a, str>>,
    /// Only whether there is one: the error is read again from the text, rarely.
    pub(super) error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate<'a> {
    #[serde(borrow)]
    pub(super) content: Option<Content<'a>>,
    pub(super) finish_reason: Option<String>,
    pub(super) index: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct Content<'a> {
    #[serde(borrow)]
    pub(super) role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) parts: Vec<Part<'a>>,
}

/// A part: text, thought text, or a function call; other kinds (inline data, executable
/// code, …) stay in the chunk's raw data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part<'a> {
    #[serde(borrow)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) thought: bool,
    pub(super) function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
pub(super) struct FunctionCall {
    pub(super) name: String,
    pub(super) args: Option<Value>,
    pub(super) id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    pub(super) block_reason: Option<String>,
}

/// Gemini's counts; everything it sends is also kept in [`Usage::extra`] under its own
/// name (`thoughtsTokenCount`, `cachedContentTokenCount`, …).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawUsage {
    pub(super) prompt_token_count: Option<u64>,
    pub(super) candidates_token_count: Option<u64>,
    pub(super) total_token_count: Option<u64>,
    pub(super) thoughts_token_count: Option<u64>,
    #[serde(flatten)]
    pub(super) extra: Map<String, Value>,
}

/// The fast path for the events that make up nearly all of a long answer: candidates
/// whose parts are plain text, with the running prompt and total counts (see
/// `chat::scan`). `None` for anything else — a function call, thought text, a finish
/// reason, prompt feedback, other counts, an error, a repeated field — which serde then
/// reads. What it returns is what serde reads from the same text.
pub(super) fn scan_text(data: &str) -> Option<Response<'_>> {
    let mut s = Scan::new(data);
    let mut r = Response {
        candidates: Vec::new(),
        prompt_feedback: None,
        usage_metadata: None,
        model_version: None,
        response_id: None,
        error: None,
    };
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "candidates" => {
            once(&mut seen, 1)?;
            s.array(|s| {
                r.candidates.push(scan_candidate(s)?);
                Some(())
            })
        }
        "usageMetadata" => {
            once(&mut seen, 2)?;
            r.usage_metadata = if s.null()? {
                None
            } else {
                Some(scan_usage(s)?)
            };
            Some(())
        }
        "modelVersion" => {
            once(&mut seen, 4)?;
            r.model_version = s.opt_str()?;
            Some(())
        }
        "responseId" => {
            once(&mut seen, 8)?;
            r.response_id = s.opt_str()?;
            Some(())
        }
        "promptFeedback" | "error" => None,
        _ => s.skip(),
    })?;
    s.end()?;
    Some(r)
}

fn scan_candidate<'a>(s: &mut Scan<'a>) -> Option<Candidate<'a>> {
    let mut c = Candidate {
        content: None,
        finish_reason: None,
        index: None,
    };
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "content" => {
            once(&mut seen, 1)?;
            if !s.null()? {
                c.content = Some(scan_content(s)?);
            }
            Some(())
        }
        "index" => {
            once(&mut seen, 2)?;
            c.index = if s.null()? { None } else { Some(s.u32()?) };
            Some(())
        }
        "finishReason" => None,
        _ => s.skip(),
    })?;
    Some(c)
}

fn scan_content<'a>(s: &mut Scan<'a>) -> Option<Content<'a>> {
    let mut c = Content {
        role: None,
        parts: Vec::new(),
    };
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "role" => {
            once(&mut seen, 1)?;
            c.role = s.opt_str()?;
            Some(())
        }
        "parts" => {
            once(&mut seen, 2)?;
            s.array(|s| {
                c.parts.push(scan_part(s)?);
                Some(())
            })
        }
        _ => s.skip(),
    })?;
    Some(c)
}

/// A part of plain text (other keys, such as a `thoughtSignature`, skipped).
fn scan_part<'a>(s: &mut Scan<'a>) -> Option<Part<'a>> {
    let mut text = None;
    let mut seen = 0u8;
    s.object(|s, key| match key {
        "text" => {
            once(&mut seen, 1)?;
            text = s.opt_str()?;
            Some(())
        }
        "thought" | "functionCall" => None,
        _ => s.skip(),
    })?;
    Some(Part {
        text,
        thought: false,
        function_call: None,
    })
}

/// `usageMetadata` holding the prompt, candidates and total counts only.
fn scan_usage(s: &mut Scan<'_>) -> Option<RawUsage> {
    let mut u = RawUsage::default();
    s.object(|s, key| {
        let count = match key {
            "promptTokenCount" => &mut u.prompt_token_count,
            "candidatesTokenCount" => &mut u.candidates_token_count,
            "totalTokenCount" => &mut u.total_token_count,
            _ => return None,
        };
        if count.is_some() {
            return None;
        }
        *count = Some(u64::from(s.u32()?));
        Some(())
    })?;
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::super::fuzz::check_fast_paths;

    /// What the simulator and Google's own streams send for each piece of text.
    const TEXT: &str = r#"{"candidates": [{"content": {"parts": [{"text": "Hel\"lo\u00e9"}],"role": "model"},"index": 0,"safetyRatings":[{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"}]}],"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "r1"}"#;

    #[test]
    fn plain_text_events_take_the_fast_path_and_read_as_serde_does() {
        for data in [
            TEXT,
            "{}",
            r#"{"candidates":[],"usageMetadata":null,"modelVersion":null,"responseId":""}"#,
            r#"{"candidates":[{"content":null,"index":null}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":""},{"thoughtSignature":"c2ln"}]}}]}"#,
            r#"{"candidates":[{"content":{"role":"user","parts":[{"text":"a"},{"text":null}]}},{"index":3,"content":{"parts":[{"text":"b"}]}}]}"#,
            r#"{"usageMetadata":{},"candidates":[{"content":{"role":null}}]}"#,
        ] {
            assert!(check_fast_paths(data).gemini, "{data}");
        }
    }

    #[test]
    fn other_events_are_left_to_serde() {
        let events = [
            // Shapes the fast path does not read.
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"hm","thought":true}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}]}"#,
            r#"{"usageMetadata":{"promptTokenCount":9,"thoughtsTokenCount":2}}"#,
            r#"{"usageMetadata":{"trafficType":"ON_DEMAND"}}"#,
            r#"{"usageMetadata":{"promptTokenCount":9999999999}}"#,
            r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#,
            r#"{"error":{"code":429,"message":"slow down"}}"#,
            // What serde refuses.
            r#"{"responseId":"a","responseId":"b"}"#,
            r#"{"candidates":[{"index":0,"index":1}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]}"#,
            r#"{"usageMetadata":{"promptTokenCount":1,"promptTokenCount":1}}"#,
            r#"{"candidates":null}"#,
            r#"{"candidates":[{"index":-1}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":7}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":null}}]}"#,
            r#"{"x":01}"#,
            r#"{"responseId":"a"} x"#,
            "[]",
            "",
        ];
        for data in events {
            assert!(!check_fast_paths(data).gemini, "{data}");
        }
    }
}
