//! Both sides' transcript on standard output, as it arrives, one line a turn:
//! `you: …` and `assistant: …`.
//!
//! Lines keep the conversation's order: a user's turn gets its place when its audio is
//! committed, so an assistant answer that starts before the user's transcription has
//! arrived waits for it (up to [`PATIENCE`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::term::{nl, out};

/// How long a user's line without any text holds up the lines after it.
const PATIENCE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    You,
    Assistant,
    /// A note in the flow (a tool call, an interruption).
    Note,
}

struct Line {
    item: String,
    who: Who,
    text: String,
    /// Bytes of `text` on screen (for the front line).
    shown: usize,
    done: bool,
    since: Instant,
}

/// The printer: see the [module docs](self).
pub struct Transcript {
    lines: VecDeque<Line>,
    /// The front line's prefix is on screen.
    open: bool,
}

impl Transcript {
    pub fn new() -> Self {
        Transcript {
            lines: VecDeque::new(),
            open: false,
        }
    }

    /// Keeps a place for an item whose text comes later.
    pub fn expect(&mut self, item: &str, who: Who) {
        self.line(item, who);
    }

    /// More text for an item.
    pub fn delta(&mut self, item: &str, who: Who, text: &str) {
        self.line(item, who).text.push_str(text);
        self.pump();
    }

    /// An item's text is complete; `text`, when given, is its final form.
    pub fn done(&mut self, item: &str, text: Option<&str>) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.item == item) {
            if let Some(t) = text
                && t.starts_with(line.text.as_str())
            {
                line.text = t.to_owned();
            }
            line.done = true;
        }
        self.pump();
    }

    /// The final text of an item, if no deltas came: a whole line.
    pub fn whole(&mut self, item: &str, who: Who, text: &str) {
        if self.lines.iter().any(|l| l.item == item) {
            self.done(item, Some(text));
        } else if !text.is_empty() {
            self.lines.push_back(Line::new(item, who, text, true));
            self.pump();
        }
    }

    /// A user's audio that could not be transcribed.
    pub fn failed(&mut self, item: &str) {
        let line = self.line(item, Who::You);
        if line.text.is_empty() {
            line.text.push_str("(not transcribed)");
        }
        line.done = true;
        self.pump();
    }

    /// A note, in order with the lines.
    pub fn note(&mut self, text: impl Into<String>) {
        self.lines
            .push_back(Line::new("", Who::Note, &text.into(), true));
        self.pump();
    }

    /// Gives up on a user's line that has waited too long without text.
    pub fn tick(&mut self, now: Instant) {
        while let Some(front) = self.lines.front()
            && front.who == Who::You
            && front.text.is_empty()
            && self.lines.len() > 1
            && now.duration_since(front.since) > PATIENCE
        {
            self.lines.pop_front();
            self.open = false;
        }
        self.pump();
    }

    /// Whether no line is half printed (a status line may be drawn).
    pub fn idle(&self) -> bool {
        !self.open
    }

    /// Ends the line on screen, if one is open (at exit).
    pub fn close(&mut self) {
        if self.open {
            out(nl());
            self.open = false;
            self.lines.pop_front();
        }
    }

    fn line(&mut self, item: &str, who: Who) -> &mut Line {
        let i = match self.lines.iter().position(|l| l.item == item) {
            Some(i) => i,
            None => {
                self.lines.push_back(Line::new(item, who, "", false));
                self.lines.len() - 1
            }
        };
        &mut self.lines[i]
    }

    /// Prints what the front lines allow.
    fn pump(&mut self) {
        let mut text = String::new();
        while let Some(front) = self.lines.front_mut() {
            if !self.open {
                if front.text.is_empty() && !front.done {
                    break;
                }
                let prefix = match front.who {
                    Who::You => "you: ",
                    Who::Assistant => "assistant: ",
                    Who::Note => "",
                };
                text.push_str(prefix);
                self.open = true;
            }
            if front.shown < front.text.len() {
                text.push_str(&front.text[front.shown..]);
                front.shown = front.text.len();
            }
            if !front.done {
                break;
            }
            text.push_str(nl());
            self.open = false;
            self.lines.pop_front();
        }
        if !text.is_empty() {
            out(text);
        }
    }
}

impl Line {
    fn new(item: &str, who: Who, text: &str, done: bool) -> Line {
        Line {
            item: item.to_owned(),
            who,
            text: text.to_owned(),
            shown: 0,
            done,
            since: Instant::now(),
        }
    }
}
