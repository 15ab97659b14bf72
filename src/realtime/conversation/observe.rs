//! How the layer reads each server event: the state, tools, sequencing, usage and turn
//! timing it updates, and the notifications it derives.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use super::Conversation;
use super::event::{
    ConversationEvent, McpApproval, ResponseSummary, TextDelta, TextSource, ToolCall, ToolOutcome,
    TranscriptCut,
};
use super::items::heard_cut;
use super::tools::output_of;
use super::usage::ResponseUsage;
use crate::realtime::events::{
    AudioFormat, ConversationItemCreate, ResponseCreate, ResponseStatus, Role,
};
use crate::realtime::{Item, ServerEvent, Session};

/// A finished handler: the call's item and what came of it.
pub(crate) struct Finished {
    item_id: String,
    outcome: ToolOutcome,
    elapsed: Duration,
}

/// A function call of a response in progress.
#[derive(Debug)]
struct Pending {
    response_id: String,
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
    result: Option<(ToolOutcome, Duration)>,
}

/// The calls of the responses in progress, and which of those responses are done.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    pending: Vec<Pending>,
    /// Responses that ended, with whether to ask for a follow-up.
    done: Vec<(String, bool)>,
    /// Arguments so far, by call item.
    arguments: std::collections::HashMap<String, String>,
}

impl Conversation {
    /// Reads one event, updating the state and queuing notifications after it.
    pub(super) fn observe(&mut self, event: &ServerEvent, now: Instant) {
        match event {
            ServerEvent::SessionCreated(e) => self.session(&e.session),
            ServerEvent::SessionUpdated(e) => self.session(&e.session),
            ServerEvent::ConversationItemAdded(e) => {
                self.items
                    .upsert(e.item.clone(), e.previous_item_id.as_deref(), false);
            }
            ServerEvent::ConversationItemCreated(e) => {
                self.items
                    .upsert(e.item.clone(), e.previous_item_id.as_deref(), false);
            }
            ServerEvent::ConversationItemDone(e) => {
                self.items
                    .upsert(e.item.clone(), e.previous_item_id.as_deref(), false);
                self.item_done(&e.item);
            }
            ServerEvent::ConversationItemRetrieved(e) => {
                self.items.upsert(e.item.clone(), None, false)
            }
            ServerEvent::ConversationItemDeleted(e) => self.items.remove(&e.item_id),
            ServerEvent::ConversationItemTruncated(e) => self.truncated(&e.item_id, e.audio_end_ms),
            ServerEvent::ResponseCreated(e) => {
                let id = e.response.id.clone().unwrap_or_default();
                if e.response.conversation_id.is_none() {
                    self.out_of_band.insert(id);
                } else {
                    self.seq.created(&e.response);
                    self.turns.created(&id, now);
                }
            }
            ServerEvent::ResponseOutputItemAdded(e) => {
                let oob = self.out_of_band.contains(&e.response_id);
                if let Item::FunctionCall(f) = &e.item
                    && let Some(id) = &f.id
                {
                    self.call_names.insert(id.clone(), f.name.clone());
                }
                self.items.upsert(e.item.clone(), None, oob);
            }
            ServerEvent::ResponseOutputItemDone(e) => {
                let oob = self.out_of_band.contains(&e.response_id);
                self.items.upsert(e.item.clone(), None, oob);
                self.item_done(&e.item);
            }
            ServerEvent::ResponseContentPartAdded(e) => {
                if matches!(e.part, crate::realtime::events::ContentPart::Audio { .. }) {
                    self.turns.audio_item(&e.response_id, &e.item_id);
                }
            }
            ServerEvent::ResponseOutputTextDelta(e) => {
                self.turns.delta(&e.response_id, &e.item_id, false, now);
                self.text(&e.item_id, &e.delta, TextSource::Text, Role::Assistant);
            }
            ServerEvent::ResponseOutputTextDone(e) => self.final_text(&e.item_id, &e.text),
            ServerEvent::ResponseOutputAudioDelta(e) => {
                self.turns.delta(&e.response_id, &e.item_id, true, now);
                let bytes = base64_len(&e.delta);
                if let Some(item) = self.items.get_mut(&e.item_id) {
                    item.audio += Duration::from_nanos(
                        bytes * 1_000_000_000 / u64::from(self.output_rate.max(1)),
                    );
                }
            }
            ServerEvent::ResponseOutputAudioTranscriptDelta(e) => {
                self.text(
                    &e.item_id,
                    &e.delta,
                    TextSource::AudioTranscript,
                    Role::Assistant,
                );
            }
            ServerEvent::ResponseOutputAudioTranscriptDone(e) => {
                self.final_text(&e.item_id, &e.transcript)
            }
            ServerEvent::InputAudioTranscriptionDelta(e) => {
                if let Some(delta) = &e.delta {
                    self.text(
                        &e.item_id,
                        delta,
                        TextSource::InputTranscription,
                        Role::User,
                    );
                }
            }
            ServerEvent::InputAudioTranscriptionCompleted(e) => {
                self.final_text(&e.item_id, &e.transcript)
            }
            ServerEvent::InputAudioTranscriptionFailed(e) => {
                self.ready
                    .push_back(ConversationEvent::TranscriptionFailed {
                        item_id: e.item_id.clone(),
                        error: e.error.clone(),
                    });
            }
            ServerEvent::InputAudioBufferSpeechStopped(e) => {
                self.speech_item = Some(e.item_id.clone());
                self.turns.started(now, true);
            }
            // A commit without detected speech (push-to-talk) ends the user's turn.
            ServerEvent::InputAudioBufferCommitted(e)
                if self.speech_item.as_deref() != Some(e.item_id.as_str()) =>
            {
                self.turns.started(now, true);
            }
            ServerEvent::ResponseFunctionCallArgumentsDelta(e) if !self.tools.is_empty() => {
                self.calls
                    .arguments
                    .entry(e.item_id.clone())
                    .or_default()
                    .push_str(&e.delta);
            }
            ServerEvent::ResponseFunctionCallArgumentsDone(e) => {
                let name = e
                    .name
                    .clone()
                    .or_else(|| self.call_names.get(&e.item_id).cloned())
                    .unwrap_or_default();
                self.calls.arguments.remove(&e.item_id);
                if !self.tools.is_empty() {
                    self.call(&e.response_id, &e.item_id, &e.call_id, name, &e.arguments);
                }
            }
            ServerEvent::ResponseDone(e) => self.response_done(&e.response, now),
            ServerEvent::RateLimitsUpdated(e) => self.rate_limits = e.rate_limits.clone(),
            ServerEvent::ErrorEvent(e) => {
                if let Some(next) = self.seq.error(e) {
                    self.outbox.push_back(next.into());
                }
            }
            ServerEvent::Reconnected(_) => {
                // A new server session: its conversation starts empty.
                self.items.clear();
                self.turns.reset();
                self.running.abort_all();
                self.calls = Calls::default();
                self.speech_item = None;
                if let Some(next) = self.seq.reset() {
                    self.outbox.push_back(next.into());
                }
            }
            _ => {}
        }
    }

    fn session(&mut self, s: &Session) {
        let format = s
            .audio
            .as_ref()
            .and_then(|a| a.output.as_ref())
            .and_then(|o| o.format);
        if let Some(f) = format {
            self.output_rate = match f {
                AudioFormat::Pcm { rate } => 2 * rate.unwrap_or(24_000),
                _ => 8_000,
            };
        }
    }

    fn text(&mut self, item_id: &str, delta: &str, source: TextSource, role: Role) {
        let role = match self.items.get_mut(item_id) {
            Some(item) => {
                if item.truncated_at.is_none() {
                    item.text.push_str(delta);
                }
                item.role.clone().unwrap_or(role)
            }
            None => role,
        };
        self.ready.push_back(ConversationEvent::Text(TextDelta {
            item_id: item_id.to_owned(),
            role,
            source,
            delta: delta.to_owned(),
        }));
    }

    fn final_text(&mut self, item_id: &str, text: &str) {
        if let Some(item) = self.items.get_mut(item_id)
            && item.truncated_at.is_none()
        {
            item.text.clear();
            item.text.push_str(text);
        }
    }

    fn item_done(&mut self, item: &Item) {
        let Some(id) = item.id() else { return };
        if let Some(entry) = self.items.get_mut(id)
            && !entry.done
        {
            entry.done = true;
            self.ready.push_back(ConversationEvent::ItemDone {
                item_id: id.to_owned(),
            });
        }
        if let Item::McpApprovalRequest(m) = item
            && self.approvals.insert(id.to_owned())
        {
            let field = |k: &str| {
                m.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            self.ready
                .push_back(ConversationEvent::McpApproval(McpApproval {
                    id: id.to_owned(),
                    server_label: field("server_label"),
                    name: field("name"),
                    arguments: field("arguments"),
                }));
        }
    }

    /// Cuts an assistant item's transcript where its audio now ends.
    fn truncated(&mut self, item_id: &str, audio_end_ms: u32) {
        let from_player = self
            .turns
            .played
            .as_ref()
            .and_then(|p| p.played(item_id))
            .map(|p| p.received);
        let Some(item) = self.items.get_mut(item_id) else {
            return;
        };
        let total = if item.audio.is_zero() {
            from_player.unwrap_or_default()
        } else {
            item.audio
        };
        let heard = Duration::from_millis(u64::from(audio_end_ms));
        let cut = heard_cut(&item.text, heard, total);
        let unheard = item.text.split_off(cut);
        item.truncated_at = Some(audio_end_ms);
        self.ready
            .push_back(ConversationEvent::Truncated(TranscriptCut {
                item_id: item_id.to_owned(),
                audio_end_ms,
                transcript: item.text.clone(),
                unheard,
            }));
    }

    /// A call's arguments are complete: check them and run the handler.
    fn call(
        &mut self,
        response_id: &str,
        item_id: &str,
        call_id: &str,
        name: String,
        arguments: &str,
    ) {
        let mut pending = Pending {
            response_id: response_id.to_owned(),
            item_id: item_id.to_owned(),
            call_id: call_id.to_owned(),
            name,
            arguments: arguments.to_owned(),
            result: None,
        };
        match self.tools.prepare(&pending.name, arguments) {
            Ok(ready) => {
                let item_id = item_id.to_owned();
                self.running.spawn(async move {
                    match AssertUnwindSafe(ready.run()).catch_unwind().await {
                        Ok((outcome, elapsed)) => Finished {
                            item_id,
                            outcome,
                            elapsed,
                        },
                        Err(_) => Finished {
                            item_id,
                            outcome: ToolOutcome::Failed("the handler panicked".into()),
                            elapsed: Duration::ZERO,
                        },
                    }
                });
            }
            Err(outcome) => {
                self.notify_call(&pending, &outcome, Duration::ZERO);
                pending.result = Some((outcome, Duration::ZERO));
            }
        }
        self.calls.pending.push(pending);
    }

    pub(super) fn call_finished(&mut self, done: Finished) {
        let Some(i) = self
            .calls
            .pending
            .iter()
            .position(|p| p.item_id == done.item_id && p.result.is_none())
        else {
            return; // from before a reconnect
        };
        let response_id = self.calls.pending[i].response_id.clone();
        let p = &self.calls.pending[i];
        let call = self.tool_call(p, &done.outcome, done.elapsed);
        self.ready.push_back(ConversationEvent::ToolCall(call));
        self.calls.pending[i].result = Some((done.outcome, done.elapsed));
        self.answer_calls(&response_id);
    }

    fn tool_call(&self, p: &Pending, outcome: &ToolOutcome, elapsed: Duration) -> ToolCall {
        ToolCall {
            response_id: p.response_id.clone(),
            item_id: p.item_id.clone(),
            call_id: p.call_id.clone(),
            name: p.name.clone(),
            arguments: p.arguments.clone(),
            outcome: outcome.clone(),
            output: output_of(&p.name, outcome),
            elapsed,
        }
    }

    fn notify_call(&mut self, p: &Pending, outcome: &ToolOutcome, elapsed: Duration) {
        let call = self.tool_call(p, outcome, elapsed);
        self.ready.push_back(ConversationEvent::ToolCall(call));
    }

    /// When a response is done and every call of it answered: the outputs, in call
    /// order, then one request for the next response.
    fn answer_calls(&mut self, response_id: &str) {
        let Some(d) = self.calls.done.iter().position(|(r, _)| r == response_id) else {
            return;
        };
        let ours = |p: &Pending| p.response_id == response_id;
        if self
            .calls
            .pending
            .iter()
            .any(|p| ours(p) && p.result.is_none())
        {
            return;
        }
        let (_, follow_up) = self.calls.done.remove(d);
        let (answered, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.calls.pending)
                .into_iter()
                .partition(ours);
        self.calls.pending = rest;
        if answered.is_empty() {
            return;
        }
        for p in answered {
            let outcome = p
                .result
                .map(|(o, _)| o)
                .unwrap_or(ToolOutcome::UnknownFunction);
            let item = Item::function_output(p.call_id, output_of(&p.name, &outcome));
            self.outbox
                .push_back(ConversationItemCreate::new(item).into());
        }
        if follow_up && self.respond_after_tools {
            self.request(ResponseCreate::default());
        }
    }

    fn response_done(&mut self, response: &crate::realtime::events::Response, now: Instant) {
        let id = response.id.clone().unwrap_or_default();
        let out_of_band = self.out_of_band.remove(&id) || response.conversation_id.is_none();
        let usage = ResponseUsage::from_usage(response.usage.as_ref(), self.prices.as_ref());
        self.usage.add(&usage);
        self.ready
            .push_back(ConversationEvent::ResponseDone(ResponseSummary {
                response_id: id.clone(),
                status: response.status.clone(),
                out_of_band,
                usage,
            }));
        if out_of_band {
            return;
        }
        if let Some(next) = self.seq.done(response) {
            self.outbox.push_back(next.into());
        }
        if let Some(turn) = self.turns.done(&id, now) {
            self.ready.push_back(ConversationEvent::Turn(turn));
        }
        if self.calls.pending.iter().any(|p| p.response_id == id) {
            let follow_up = response.status == Some(ResponseStatus::Completed);
            self.calls.done.push((id.clone(), follow_up));
            self.answer_calls(&id);
        }
    }
}

/// Decoded length of base64 text, in bytes.
fn base64_len(b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    ((b64.len() / 4 * 3).saturating_sub(padding)) as u64
}
