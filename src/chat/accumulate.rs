//! What the chunks of a stream add up to.

use std::sync::Arc;

use serde::Serialize;

use super::content::TokenLogprob;
use super::delta::{ChoiceDelta, Delta, ToolCallDelta, Usage};

/// A tool call, merged from its fragments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// Its index in the message.
    pub index: u32,
    /// The call's id.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The JSON arguments, concatenated.
    pub arguments: String,
}

/// Why a choice finished, read from the provider's `finish_reason` (OpenAI's words and
/// the other names compatible servers use for the same thing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// The answer is whole: `stop`, `end_turn`, `stop_sequence`, `eos`.
    Stop,
    /// Cut at the token limit: `length`, `max_tokens`, `model_length`.
    Length,
    /// The model called tools: `tool_calls`, `function_call`, `tool_use`.
    ToolCalls,
    /// Withheld by a filter: `content_filter`, `safety`, `recitation`.
    ContentFilter,
    /// Anything else, as sent (`error`, …).
    Other(String),
}

impl FinishReason {
    /// Reads a `finish_reason` (case-insensitively).
    ///
    /// ```
    /// use vivavoce::chat::FinishReason;
    /// assert_eq!(FinishReason::parse("end_turn"), FinishReason::Stop);
    /// assert_eq!(FinishReason::parse("max_tokens"), FinishReason::Length);
    /// assert_eq!(FinishReason::parse("error"), FinishReason::Other("error".into()));
    /// ```
    pub fn parse(reason: &str) -> FinishReason {
        let is = |names: &[&str]| names.iter().any(|n| reason.eq_ignore_ascii_case(n));
        if is(&["stop", "end_turn", "stop_sequence", "eos", "eos_token"]) {
            FinishReason::Stop
        } else if is(&["length", "max_tokens", "model_length", "max_output_tokens"]) {
            FinishReason::Length
        } else if is(&["tool_calls", "function_call", "tool_use", "tool_call"]) {
            FinishReason::ToolCalls
        } else if is(&["content_filter", "safety", "recitation", "blocklist"]) {
            FinishReason::ContentFilter
        } else {
            FinishReason::Other(reason.to_owned())
        }
    }
}

/// One choice, accumulated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Choice {
    /// Its index.
    pub index: u32,
    /// The text so far (a refusal is folded in here too, with `refused` set).
    pub content: String,
    /// The reasoning text so far, apart from the content (empty when the model gave
    /// none).
    pub reasoning: String,
    /// The role.
    pub role: Option<String>,
    /// The refusal text, if the model refused.
    pub refusal: Option<String>,
    /// Whether the model refused.
    pub refused: bool,
    /// Tool calls, merged by index (or by id when the provider sends no index).
    pub tool_calls: Vec<ToolCall>,
    /// Why it finished, as the provider said it.
    pub finish_reason: Option<String>,
    /// The tokens' log probabilities, when the request asked for them.
    pub logprobs: Vec<TokenLogprob>,
}

impl Choice {
    /// [`finish_reason`](Self::finish_reason), read as a [`FinishReason`].
    pub fn finish(&self) -> Option<FinishReason> {
        self.finish_reason.as_deref().map(FinishReason::parse)
    }

    fn add(&mut self, d: &ChoiceDelta) {
        if let Some(t) = &d.content {
            self.content.push_str(t);
        }
        if let Some(r) = &d.reasoning {
            self.reasoning.push_str(r);
        }
        if self.role.is_none() {
            self.role.clone_from(&d.role);
        }
        if let Some(r) = &d.refusal {
            self.refusal.get_or_insert_with(String::new).push_str(r);
            self.content.push_str(r);
            self.refused = true;
        }
        for t in &d.tool_calls {
            self.add_tool_call(t);
        }
        if d.finish_reason.is_some() {
            self.finish_reason.clone_from(&d.finish_reason);
        }
        self.logprobs.extend_from_slice(&d.logprobs);
    }

    fn add_tool_call(&mut self, t: &ToolCallDelta) {
        let calls = &mut self.tool_calls;
        let id = t.id.as_deref().filter(|id| !id.is_empty());
        let found = match id {
            // A new id starts a new call, whatever the index says (Mistral sends none;
            // some servers send index 0 for every parallel call). A call begun without
            // an id takes the first id given at its index.
            Some(id) => calls.iter().rposition(|c| c.id == id).or_else(|| {
                calls
                    .iter()
                    .rposition(|c| c.id.is_empty() && (!t.indexed || c.index == t.index))
            }),
            None if t.indexed => calls.iter().rposition(|c| c.index == t.index),
            None => calls.len().checked_sub(1),
        };
        let pos = match found {
            Some(p) => p,
            None => {
                let taken = !t.indexed || calls.iter().any(|c| c.index == t.index);
                let index = if taken {
                    u32::try_from(calls.len()).unwrap_or(u32::MAX)
                } else {
                    t.index
                };
                calls.push(ToolCall {
                    index,
                    ..ToolCall::default()
                });
                calls.len() - 1
            }
        };
        let call = &mut calls[pos];
        if let (Some(id), true) = (id, call.id.is_empty()) {
            call.id.push_str(id);
        }
        if let Some(f) = &t.function {
            // A name repeated in every fragment is kept once; one sent in pieces is
            // joined.
            if let Some(n) = f.name.as_deref().filter(|n| *n != call.name) {
                call.name.push_str(n);
            }
            if let Some(a) = &f.arguments {
                call.arguments.push_str(a);
            }
        }
    }
}

/// Adds chunks up.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    /// The choices so far, in index order: those the chunks named (with `n > 1`, an index
    /// the server never sent has no entry), so `choices[i]` is not always index `i`.
    pub choices: Vec<Choice>,
    /// Usage, once reported.
    pub usage: Option<Usage>,
    /// The model: the first non-empty one.
    pub model: Option<Arc<str>>,
    /// The completion's id: the first non-empty one (a content-filter notice may come
    /// with an empty id first).
    pub id: Option<Arc<str>>,
}

/// Keeps the first non-empty name.
fn first_named(kept: &mut Option<Arc<str>>, new: &Option<Arc<str>>) {
    if kept.as_deref().is_none_or(str::is_empty) && new.as_deref().is_some_and(|n| !n.is_empty()) {
        kept.clone_from(new);
    }
}

impl Accumulator {
    /// Adds one chunk.
    pub fn add(&mut self, delta: &Delta) {
        first_named(&mut self.id, &delta.id);
        first_named(&mut self.model, &delta.model);
        if delta.usage.is_some() {
            self.usage.clone_from(&delta.usage);
        }
        for d in &delta.choices {
            // Kept in index order, only the indexes sent: an index of 4 billion from a
            // server is one choice, not 4 billion empty ones before it.
            let at = match self.choices.binary_search_by_key(&d.index, |c| c.index) {
                Ok(at) => at,
                Err(at) => {
                    let choice = Choice {
                        index: d.index,
                        ..Choice::default()
                    };
                    self.choices.insert(at, choice);
                    at
                }
            };
            self.choices[at].add(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accumulate(chunks: &[&str]) -> Accumulator {
        let mut acc = Accumulator::default();
        for c in chunks {
            acc.add(&Delta::parse(c).unwrap());
        }
        acc
    }

    #[test]
    fn tool_calls_merge_by_index_and_choices_stay_apart() {
        let chunks = [
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"time","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"weather","arguments":"{\"city\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}},{"index":1,"delta":{"content":"second"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        ];
        let mut acc = Accumulator::default();
        for c in chunks {
            acc.add(&Delta::parse(c).unwrap());
        }
        let c0 = &acc.choices[0];
        assert_eq!(c0.tool_calls.len(), 2);
        assert_eq!(
            (c0.tool_calls[0].id.as_str(), c0.tool_calls[0].name.as_str()),
            ("call_a", "get_weather")
        );
        assert_eq!(c0.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c0.tool_calls[1].name, "time");
        assert_eq!(c0.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(acc.choices[1].content, "second");
        let u = acc.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.total_tokens), (3, 8));
        assert!(u.extra.contains_key("completion_tokens_details"));
        assert_eq!(acc.id.as_deref(), Some("c1"));
    }

    #[test]
    fn refusal_is_folded_into_content_with_a_flag() {
        let mut acc = Accumulator::default();
        acc.add(
            &Delta::parse(r#"{"choices":[{"index":0,"delta":{"refusal":"I can't "}}]}"#).unwrap(),
        );
        acc.add(&Delta::parse(r#"{"choices":[{"index":0,"delta":{"refusal":"help."}}]}"#).unwrap());
        let c = &acc.choices[0];
        assert!(c.refused);
        assert_eq!(c.content, "I can't help.");
        assert_eq!(c.refusal.as_deref(), Some("I can't help."));
    }

    #[test]
    fn tool_calls_without_index_are_told_apart_by_id() {
        let acc = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","function":{"name":"weather","arguments":"{\"city\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","function":{"name":"weather","arguments":"\"Paris\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_2","function":{"name":"time","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":""}}]}}]}"#,
        ]);
        let calls = &acc.choices[0].tool_calls;
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(
            (calls[0].index, calls[0].id.as_str(), calls[0].name.as_str()),
            (0, "call_1", "weather")
        );
        assert_eq!(calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!((calls[1].index, calls[1].id.as_str()), (1, "call_2"));
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("time", "{}")
        );
        // Index 0 for every parallel call, with new ids: still two calls.
        let acc = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"1"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"2"}}]}}]}"#,
        ]);
        let calls = &acc.choices[0].tool_calls;
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[1].index, calls[1].arguments.as_str()), (1, "2"));
    }

    #[test]
    fn the_first_non_empty_id_and_model_are_kept() {
        let acc = accumulate(&[
            r#"{"id":"","model":"","choices":[],"prompt_filter_results":[]}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"id":"","model":"","choices":[{"index":0,"delta":{},"finish_reason":"stop","content_filter_results":{}}]}"#,
        ]);
        assert_eq!(acc.id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(acc.model.as_deref(), Some("gpt-4o"));
    }

    #[test]
    fn choices_keep_the_indexes_sent_in_order() {
        let acc = accumulate(&[
            r#"{"choices":[{"index":4294967295,"delta":{"content":"far"}}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":"two"}},{"index":0,"delta":{"content":"zero"}}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":"!"}}]}"#,
        ]);
        let got: Vec<(u32, &str)> = acc
            .choices
            .iter()
            .map(|c| (c.index, c.content.as_str()))
            .collect();
        assert_eq!(got, [(0, "zero"), (2, "two!"), (u32::MAX, "far")]);
    }

    #[test]
    fn finish_reasons_read_as_one_enum() {
        for (raw, want) in [
            ("stop", FinishReason::Stop),
            ("end_turn", FinishReason::Stop),
            ("length", FinishReason::Length),
            ("max_tokens", FinishReason::Length),
            ("tool_calls", FinishReason::ToolCalls),
            ("function_call", FinishReason::ToolCalls),
            ("tool_use", FinishReason::ToolCalls),
            ("content_filter", FinishReason::ContentFilter),
            ("error", FinishReason::Other("error".to_owned())),
        ] {
            assert_eq!(FinishReason::parse(raw), want, "{raw}");
        }
    }
}
