//! The state line while a person waits: listening, hearing you, thinking or speaking,
//! with the microphone's level. On a terminal it is redrawn in place on standard error;
//! otherwise each change of state is one line (`[thinking]`).

use std::io::IsTerminal;

use crate::term::{err, note};

/// What the assistant is doing, as the person sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the person (hands-free: listening; push-to-talk: waiting for the key).
    Listening,
    /// The person is talking.
    Hearing,
    /// The turn has ended and no answer is heard yet.
    Thinking,
    /// The answer is playing.
    Speaking,
}

impl State {
    fn label(self, push_to_talk: bool) -> &'static str {
        match self {
            State::Listening if push_to_talk => "ready",
            State::Listening => "listening",
            State::Hearing => "hearing you",
            State::Thinking => "thinking",
            State::Speaking => "speaking",
        }
    }
}

/// The state line: see the [module docs](self).
pub struct Status {
    tty: bool,
    drawn: bool,
    last: Option<State>,
    push_to_talk: bool,
    hint: &'static str,
}

impl Status {
    /// `hint` follows the state on a terminal (the keys to press, say).
    pub fn new(push_to_talk: bool, hint: &'static str) -> Self {
        Status {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
            push_to_talk,
            hint,
        }
    }

    /// Shows `state` and the input level (dBFS); on a terminal only when `may_draw` (no
    /// transcript line is half printed).
    pub fn show(&mut self, state: State, level_db: f32, may_draw: bool) {
        let label = state.label(self.push_to_talk);
        if self.tty {
            if may_draw {
                // −60 dBFS and below is an empty meter, 0 dBFS a full one.
                let filled = (((level_db + 60.0) / 60.0).clamp(0.0, 1.0) * 20.0).round() as usize;
                let meter = format!("{}{}", "#".repeat(filled), ".".repeat(20 - filled));
                err(format!(
                    "\r\x1b[2K[{label:<11}] mic [{meter}] {:>4.0} dB  {}",
                    level_db.max(-99.0),
                    self.hint
                ));
                self.drawn = true;
            }
        } else if self.last != Some(state) {
            note!("[{label}]");
        }
        self.last = Some(state);
    }

    /// Takes the line off the screen (before other output).
    pub fn clear(&mut self) {
        if self.drawn {
            err("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
