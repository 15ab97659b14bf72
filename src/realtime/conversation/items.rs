//! The conversation's items in order, each with its text or transcript assembled from
//! the deltas, and cut at the heard position when an assistant item is truncated.

use std::collections::HashMap;
use std::time::Duration;

use crate::realtime::events::{ContentPart, Item, Role};

/// An item of the conversation as the layer assembled it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConversationItem {
    /// The item's id.
    pub id: String,
    /// The server's latest view of it (from `added`, `done` or `retrieved`).
    pub item: Item,
    /// Who speaks, for messages.
    pub role: Option<Role>,
    /// Its text: the model's text or the transcript of its audio; the user's text or
    /// the transcription of their audio; a function call's arguments or output.
    pub text: String,
    /// `conversation.item.done` (or `response.output_item.done`) arrived.
    pub done: bool,
    /// Audio the layer saw arrive for it (zero when a playback took the deltas).
    pub audio: Duration,
    /// Where its audio was cut, in ms, when it was truncated.
    pub truncated_at: Option<u32>,
    /// Part of a response out of band (`conversation: "none"`), not of the conversation.
    pub out_of_band: bool,
}

impl ConversationItem {
    fn new(item: Item, out_of_band: bool) -> Self {
        let role = match &item {
            Item::Message(m) => Some(m.role.clone()),
            _ => None,
        };
        let mut c = ConversationItem {
            id: item.id().unwrap_or_default().to_owned(),
            item,
            role,
            text: String::new(),
            done: false,
            audio: Duration::ZERO,
            truncated_at: None,
            out_of_band,
        };
        c.text = text_of(&c.item);
        c
    }

    /// Takes the server's newer view; keeps the text assembled so far when the view has
    /// none (the server leaves transcripts out of some events).
    fn update(&mut self, item: Item) {
        let text = text_of(&item);
        if !text.is_empty() && self.truncated_at.is_none() {
            self.text = text;
        }
        self.item = item;
    }
}

/// The text an item carries in full.
fn text_of(item: &Item) -> String {
    match item {
        Item::Message(m) => {
            let mut out = String::new();
            for part in &m.content {
                let t = match part {
                    ContentPart::InputText { text } => Some(text.as_str()),
                    ContentPart::OutputText { text } | ContentPart::Text { text } => {
                        text.as_deref()
                    }
                    ContentPart::InputAudio { transcript, .. }
                    | ContentPart::OutputAudio { transcript, .. }
                    | ContentPart::Audio { transcript, .. } => transcript.as_deref(),
                    _ => None,
                };
                out.push_str(t.unwrap_or_default());
            }
            out
        }
        Item::FunctionCall(f) => f.arguments.clone(),
        Item::FunctionCallOutput(f) => f.output.clone(),
        _ => String::new(),
    }
}

/// The ordered items, with an index by id.
#[derive(Debug, Default)]
pub(crate) struct Items {
    list: Vec<ConversationItem>,
    index: HashMap<String, usize>,
    max: usize,
}

impl Items {
    pub(crate) fn new(max: usize) -> Self {
        Items {
            list: Vec::new(),
            index: HashMap::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn all(&self) -> &[ConversationItem] {
        &self.list
    }

    pub(crate) fn get(&self, id: &str) -> Option<&ConversationItem> {
        self.index.get(id).map(|&i| &self.list[i])
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut ConversationItem> {
        self.index.get(id).map(|&i| &mut self.list[i])
    }

    /// Adds an item after `previous` (at the end when `previous` is unknown or not
    /// given), or takes a newer view of one already known.
    pub(crate) fn upsert(&mut self, item: Item, previous: Option<&str>, out_of_band: bool) {
        let Some(id) = item.id().map(str::to_owned) else {
            return;
        };
        if let Some(existing) = self.get_mut(&id) {
            existing.update(item);
            return;
        }
        let at = previous
            .and_then(|p| self.index.get(p))
            .map_or(self.list.len(), |&i| i + 1);
        let entry = ConversationItem::new(item, out_of_band);
        if at == self.list.len() {
            self.index.insert(id, at);
            self.list.push(entry);
        } else {
            self.list.insert(at, entry);
            self.reindex();
        }
        if self.list.len() > self.max {
            // Forget the oldest (the server still has it).
            self.list.remove(0);
            self.reindex();
        }
    }

    pub(crate) fn remove(&mut self, id: &str) {
        if let Some(i) = self.index.remove(id) {
            self.list.remove(i);
            self.reindex();
        }
    }

    /// Forgets every item (a new server session).
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, item) in self.list.iter().enumerate() {
            self.index.insert(item.id.clone(), i);
        }
    }
}

/// Where to cut `text` so that it holds what was heard of `total` audio when the audio
/// ends at `heard`: speech time is taken as proportional to the text, and a word cut in
/// the middle is not kept. Returns the byte index.
pub(crate) fn heard_cut(text: &str, heard: Duration, total: Duration) -> usize {
    if total.is_zero() || heard >= total {
        return text.len();
    }
    let chars = text.chars().count();
    let keep = (chars as u128 * heard.as_micros() / total.as_micros()) as usize;
    let Some((byte, next)) = text.char_indices().nth(keep) else {
        return text.len();
    };
    if next.is_whitespace() {
        return byte;
    }
    // Inside a word: back to the end of the last whole word.
    text[..byte]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> Item {
        let mut item = Item::user_text(id);
        if let Item::Message(m) = &mut item {
            m.id = Some(id.into());
        }
        item
    }

    #[test]
    fn items_go_after_their_previous_item() {
        let mut items = Items::new(10);
        items.upsert(msg("a"), None, false);
        items.upsert(msg("c"), Some("a"), false);
        items.upsert(msg("b"), Some("a"), false);
        let ids: Vec<_> = items.all().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(items.get("c").unwrap().text, "c");
        items.remove("b");
        assert!(items.get("b").is_none());
        assert_eq!(items.get("c").unwrap().id, "c");
    }

    #[test]
    fn the_oldest_item_is_forgotten_past_the_limit() {
        let mut items = Items::new(2);
        for id in ["a", "b", "c"] {
            items.upsert(msg(id), None, false);
        }
        let ids: Vec<_> = items.all().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn cuts_keep_whole_words_heard() {
        let text = "one two three";
        let ms = |n| Duration::from_millis(n);
        // 13 chars over 1300 ms: 100 ms a char.
        assert_eq!(&text[..heard_cut(text, ms(300), ms(1300))], "one");
        assert_eq!(&text[..heard_cut(text, ms(500), ms(1300))], "one ");
        assert_eq!(&text[..heard_cut(text, ms(750), ms(1300))], "one two");
        assert_eq!(&text[..heard_cut(text, ms(100), ms(1300))], "");
        assert_eq!(heard_cut(text, ms(2000), ms(1300)), text.len());
        assert_eq!(heard_cut(text, ms(100), Duration::ZERO), text.len());
        assert_eq!(&"héé ça"[..heard_cut("héé ça", ms(450), ms(600))], "héé ");
    }
}
