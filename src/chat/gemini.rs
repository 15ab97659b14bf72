//! Google Gemini's `streamGenerateContent` answers read as the same [`Delta`]s as Chat
//! Completions chunks: every SSE event is a whole `GenerateContentResponse`, with the new
//! parts of each candidate.
//!
//! What Google documents (`ai.google.dev/api/generate-content`) and how it is read:
//! `candidates[].content.parts[]` hold `text` (with `thought: true`, reasoning, kept
//! apart), or a `functionCall {name, args, id?}` that always arrives whole: one tool call
//! each, with a new index per call and an id made from the `responseId` when it has none.
//! `finishReason` is read in Chat Completions' words (`STOP` → `stop`, or `tool_calls`
//! after a function call; `MAX_TOKENS` → `length`; the safety reasons →
//! `content_filter`; others as sent). `usageMetadata` is a running total, so each one
//! replaces the last; `promptFeedback.blockReason` without candidates is a
//! `content_filter` finish. The stream has no end marker: after a finish reason, the end
//! of the body is the normal end. An `{"error": {…}}` event ends the request.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::delta::{ChoiceDelta, Delta, DeltaError, FunctionDelta, ToolCallDelta, Usage};
use super::gemini_event::{Candidate, RawUsage, Response, scan_text};
use super::read::Read;
use crate::error::ApiError;

/// The prefix of the tool call ids made for calls that came without one.
pub(crate) const MADE_ID_PREFIX: &str = "call_gemini_";

/// What a stream has said so far that later events need: the tool calls of each
/// candidate (for their indexes and the `tool_calls` finish), the names shared between
/// chunks, and whether a finish reason came.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    id: Option<Arc<str>>,
    model: Option<Arc<str>>,
    /// Tool calls read so far, per candidate.
    calls: Vec<u32>,
    finished: bool,
}

impl StreamState {
    /// Reads one event's data.
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        match scan_text(data) {
            Some(response) => Ok(Read::Delta(self.delta(response, data))),
            None => self.read_with_serde(data),
        }
    }

    /// The fast path alone: the delta, if `data` has its plain shape.
    pub(super) fn scan(&mut self, data: &str) -> Option<Delta> {
        scan_text(data).map(|r| self.delta(r, data))
    }

    /// [`read`](Self::read) without its fast path.
    pub(super) fn read_with_serde(&mut self, data: &str) -> Result<Read, DeltaError> {
        let response: Response =
            serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
        Ok(Read::Delta(self.delta(response, data)))
    }

    /// Whether a finish reason (or a blocked prompt) was read: the end of the body is
    /// then the normal end.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn delta(&mut self, r: Response<'_>, data: &str) -> Delta {
        if r.error.is_some() {
            return Delta {
                id: self.id.clone(),
                model: self.model.clone(),
                error: Some(Box::new(ApiError::of_event(data))),
                ..Delta::default()
            };
        }
        share(&mut self.id, r.response_id);
        share(&mut self.model, r.model_version);
        let mut choices = Vec::with_capacity(r.candidates.len());
        for (position, c) in r.candidates.into_iter().enumerate() {
            let index = c
                .index
                .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX));
            let choice = self.choice(index, c);
            if choice != ChoiceDelta::default() {
                choices.push(choice);
            }
        }
        let blocked = r.prompt_feedback.and_then(|f| f.block_reason);
        if choices.is_empty() && blocked.is_some() {
            self.finished = true;
            choices.push(ChoiceDelta {
                finish_reason: Some("content_filter".to_owned()),
                ..ChoiceDelta::default()
            });
        }
        Delta {
            id: self.id.clone(),
            model: self.model.clone(),
            choices,
            usage: r.usage_metadata.and_then(usage),
            error: None,
        }
    }

    fn choice(&mut self, index: u32, c: Candidate<'_>) -> ChoiceDelta {
        let mut choice = ChoiceDelta {
            index,
            ..ChoiceDelta::default()
        };
        let slot = index as usize;
        if self.calls.len() <= slot {
            self.calls.resize(slot + 1, 0);
        }
        if let Some(content) = c.content {
            choice.role = content.role.map(|r| match r.as_ref() {
                "model" => "assistant".to_owned(),
                _ => r.into_owned(),
            });
            for part in content.parts {
                match (part.function_call, part.text) {
                    (Some(call), _) => {
                        let n = self.calls[slot];
                        self.calls[slot] = n.saturating_add(1);
                        let id = call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| {
                            let response = self.id.as_deref().unwrap_or("");
                            format!("{MADE_ID_PREFIX}{response}_{index}_{n}")
                        });
                        let arguments = call.args.unwrap_or_else(|| Value::Object(Map::new()));
                        choice.tool_calls.push(ToolCallDelta {
                            index: n,
                            indexed: true,
                            id: Some(id),
                            function: Some(FunctionDelta {
                                name: Some(call.name),
                                arguments: Some(arguments.to_string()),
                            }),
                        });
                    }
                    // An empty text part carries only a `thoughtSignature`.
                    (None, Some(text)) if !text.is_empty() => {
                        let to = if part.thought {
                            &mut choice.reasoning
                        } else {
                            &mut choice.content
                        };
                        to.get_or_insert_with(String::new).push_str(&text);
                    }
                    (None, _) => {}
                }
            }
        }
        if let Some(reason) = c.finish_reason {
            self.finished = true;
            choice.finish_reason = Some(finish_reason(reason, self.calls[slot] > 0));
        }
        choice
    }
}

/// A whole (non-streamed) answer, or an error object, as one delta.
pub(crate) fn parse_message(data: &str) -> Result<Delta, DeltaError> {
    let response: Response = serde_json::from_str(data).map_err(|e| DeltaError::new(data, &e))?;
    Ok(StreamState::default().delta(response, data))
}

/// Keeps `name` in `last`, reusing its allocation when it repeats.
fn share(last: &mut Option<Arc<str>>, name: Option<Cow<'_, str>>) {
    if let Some(name) = name.filter(|n| !n.is_empty())
        && last.as_deref() != Some(name.as_ref())
    {
        *last = Some(Arc::from(name.as_ref()));
    }
}

/// Gemini's counts as Chat Completions': the completion counts the thoughts too (as
/// OpenAI's does its reasoning tokens), the total is Gemini's own. `None` for a
/// `usageMetadata` without counts (Vertex sends `{"trafficType": …}` alone mid-stream).
fn usage(u: RawUsage) -> Option<Usage> {
    if u.prompt_token_count.is_none()
        && u.candidates_token_count.is_none()
        && u.total_token_count.is_none()
    {
        return None;
    }
    let prompt_tokens = u.prompt_token_count.unwrap_or(0);
    let completion_tokens = u
        .candidates_token_count
        .unwrap_or(0)
        .saturating_add(u.thoughts_token_count.unwrap_or(0));
    let mut extra = u.extra;
    if let Some(n) = u.thoughts_token_count {
        extra.insert("thoughtsTokenCount".into(), n.into());
    }
    Some(Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: u
            .total_token_count
            .unwrap_or_else(|| prompt_tokens.saturating_add(completion_tokens)),
        extra,
    })
}

/// Gemini's finish reasons in Chat Completions' words; others as sent.
fn finish_reason(reason: String, called: bool) -> String {
    match reason.as_str() {
        "STOP" if called => "tool_calls".to_owned(),
        "STOP" => "stop".to_owned(),
        "MAX_TOKENS" => "length".to_owned(),
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter".to_owned()
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(state: &mut StreamState, data: &str) -> Delta {
        state.read(data).unwrap().delta()
    }

    #[test]
    fn parts_read_as_content_reasoning_and_tool_calls() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"candidates":[{"content":{"parts":[{"text":"Let me think.","thought":true}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
        );
        let c = &d.choices[0];
        assert_eq!(
            (c.content.as_deref(), c.reasoning.as_deref()),
            (None, Some("Let me think."))
        );
        assert_eq!(c.role.as_deref(), Some("assistant"));
        assert_eq!(
            (d.id.as_deref(), d.model.as_deref()),
            (Some("r1"), Some("gemini-2.5-flash"))
        );
        assert!(!s.finished());
        let d = read(
            &mut s,
            r#"{"candidates":[{"content":{"parts":[{"text":"Checking."},{"functionCall":{"name":"weather","args":{"city":"Paris"}}},{"functionCall":{"name":"weather","args":{"city":"Rome"},"id":"given"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":20,"thoughtsTokenCount":5,"cachedContentTokenCount":4,"totalTokenCount":34},"responseId":"r1"}"#,
        );
        let c = &d.choices[0];
        assert_eq!(c.content.as_deref(), Some("Checking."));
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        let calls: Vec<_> = c
            .tool_calls
            .iter()
            .map(|t| {
                let f = t.function.as_ref().unwrap();
                (
                    t.index,
                    t.id.as_deref().unwrap(),
                    f.arguments.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                (0, "call_gemini_r1_0_0", r#"{"city":"Paris"}"#),
                (1, "given", r#"{"city":"Rome"}"#)
            ]
        );
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (9, 25, 34)
        );
        assert_eq!(
            (u.reasoning_tokens(), u.cached_tokens()),
            (Some(5), Some(4))
        );
        assert!(s.finished());
    }

    #[test]
    fn finish_reasons_in_chat_completions_words() {
        for (given, called, want) in [
            ("STOP", false, "stop"),
            ("STOP", true, "tool_calls"),
            ("MAX_TOKENS", false, "length"),
            ("SAFETY", false, "content_filter"),
            ("PROHIBITED_CONTENT", false, "content_filter"),
            ("MALFORMED_FUNCTION_CALL", false, "MALFORMED_FUNCTION_CALL"),
        ] {
            assert_eq!(finish_reason(given.to_owned(), called), want);
        }
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}"#,
        );
        assert_eq!(
            d.choices[0].finish_reason.as_deref(),
            Some("content_filter")
        );
        assert!(s.finished());
    }

    #[test]
    fn an_error_object_and_bad_events() {
        let mut s = StreamState::default();
        let d = read(
            &mut s,
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        );
        let e = d.error.unwrap();
        assert_eq!(
            (e.kind.as_str(), e.code.as_deref()),
            ("UNAVAILABLE", Some("503"))
        );
        for bad in [
            "{not json",
            r#"{"candidates":5}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]}"#,
            "[]",
        ] {
            assert!(s.read(bad).is_err(), "{bad}");
        }
        let e = s.read(r#"{"candidates":[{"index":"x"}]}"#).err().unwrap();
        assert_eq!(e.path.as_deref(), Some("candidates[0].index"));
        assert!(parse_message("{").is_err());
    }

    #[test]
    fn a_whole_answer_reads_as_one_delta() {
        let d = parse_message(
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi "},{"text":"there."}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5},"modelVersion":"gemini-2.5-pro","responseId":"w1"}"#,
        )
        .unwrap();
        assert_eq!(d.choices[0].content.as_deref(), Some("Hi there."));
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(d.usage.unwrap().total_tokens, 5);
        let d =
            parse_message(r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#)
                .unwrap();
        assert_eq!(d.error.unwrap().kind, "INVALID_ARGUMENT");
    }
}
