//! Where push-to-talk's presses come from: the terminal's keys, lines on standard input,
//! or a script (`--press-for`).

use std::io::BufRead;
use std::time::Duration;

use crossterm::event::{
    Event, KeyCode, KeyEventKind, KeyModifiers, KeyboardEnhancementFlags,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::{execute, terminal};
use tokio::sync::mpsc;

use crate::exit::Failure;
use crate::term::{self, note};

/// What the person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Start talking.
    Press,
    /// Stop talking: send the turn.
    Release,
    /// Press, or release when pressed.
    Toggle,
    /// Throw the turn away.
    Cancel,
    /// End the session.
    Quit,
    /// Ctrl-C in raw mode.
    Interrupt,
    /// No more keys will come (the script or standard input ended).
    End,
}

/// The keys, and the terminal's raw mode while they are read from it.
pub struct Keys {
    pub rx: mpsc::Receiver<Key>,
    /// What to press, for the state line.
    pub hint: &'static str,
    _raw: Option<RawMode>,
}

/// Press, hold `hold`, release, then end.
pub fn scripted(hold: Duration) -> Keys {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let _ = tx.send(Key::Press).await;
        tokio::time::sleep(hold).await;
        let _ = tx.send(Key::Release).await;
        let _ = tx.send(Key::End).await;
    });
    Keys {
        rx,
        hint: "",
        _raw: None,
    }
}

/// One word a line on standard input: press, release, toggle, cancel, quit.
pub fn lines() -> Result<Keys, Failure> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::Builder::new()
        .name("vivavoce-keys".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let key = match line.trim() {
                    "" => continue,
                    "press" => Key::Press,
                    "release" => Key::Release,
                    "toggle" => Key::Toggle,
                    "cancel" => Key::Cancel,
                    "quit" => Key::Quit,
                    other => {
                        note!("standard input: `{other}` is not press, release, toggle, cancel or quit");
                        continue;
                    }
                };
                if tx.blocking_send(key).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Key::End);
        })
        .map_err(|e| Failure::io(format!("cannot start the input thread: {e}")))?;
    Ok(Keys {
        rx,
        hint: "",
        _raw: None,
    })
}

/// The terminal's keys: space (held, or pressed twice with `toggle` or when the terminal
/// cannot report releases), Esc to cancel, q to quit.
pub fn terminal(toggle: bool) -> Result<Keys, Failure> {
    let raw = RawMode::enter(!toggle)?;
    let hold = raw.releases;
    let hint = if hold {
        "hold space to talk, Esc cancels, q quits"
    } else {
        "space starts and sends, Esc cancels, q quits"
    };
    if !toggle && !hold {
        note!(
            "this terminal does not report key releases: press space to start talking and again to send"
        );
    }
    let (tx, rx) = mpsc::channel(16);
    std::thread::Builder::new()
        .name("vivavoce-keys".into())
        .spawn(move || {
            while let Ok(event) = crossterm::event::read() {
                let Event::Key(k) = event else { continue };
                let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                let key = match (k.code, k.kind) {
                    (KeyCode::Char('c'), KeyEventKind::Press) if ctrl => Key::Interrupt,
                    (KeyCode::Char('d'), KeyEventKind::Press) if ctrl => Key::Quit,
                    (KeyCode::Char(' '), KeyEventKind::Press) if hold => Key::Press,
                    (KeyCode::Char(' '), KeyEventKind::Release) if hold => Key::Release,
                    (KeyCode::Char(' '), KeyEventKind::Press) => Key::Toggle,
                    (KeyCode::Esc, KeyEventKind::Press) => Key::Cancel,
                    (KeyCode::Char('q'), KeyEventKind::Press) => Key::Quit,
                    _ => continue,
                };
                if tx.blocking_send(key).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Failure::io(format!("cannot start the keyboard thread: {e}")))?;
    Ok(Keys {
        rx,
        hint,
        _raw: Some(raw),
    })
}

/// The terminal in raw mode (and reporting key releases when it can) until dropped.
struct RawMode {
    releases: bool,
}

impl RawMode {
    fn enter(want_releases: bool) -> Result<RawMode, Failure> {
        terminal::enable_raw_mode()
            .map_err(|e| Failure::io(format!("the terminal cannot read single keys: {e}")))?;
        term::set_raw(true);
        let releases = want_releases
            && terminal::supports_keyboard_enhancement().unwrap_or(false)
            && execute!(
                std::io::stdout(),
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::REPORT_EVENT_TYPES)
            )
            .is_ok();
        Ok(RawMode { releases })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.releases {
            let _ = execute!(std::io::stdout(), PopKeyboardEnhancementFlags);
        }
        let _ = terminal::disable_raw_mode();
        term::set_raw(false);
    }
}
