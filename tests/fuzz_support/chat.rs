//! `chat_wires`: any body through each wire format's stream reader, the whole-answer
//! parser and `Delta::parse`, added up as the engine does.

use vivavoce::chat::fuzz::{LineFramer, Outcome, StreamReader, WIRES, parse_whole};
use vivavoce::chat::{Accumulator, Delta, DeltaError, SseParser, Wire};

/// A refusal says where: a 1-based position inside the text.
fn check_error(e: &DeltaError, text: &str) {
    let _ = e.to_string();
    let lines = text.split('\n').count();
    assert!(e.line <= lines.max(1), "{e:?} past the end of {text:?}");
}

/// The first byte picks the wire; the rest is a body, framed as that wire frames it.
pub fn chat_wires(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let wire = WIRES[usize::from(head) % WIRES.len()];
    let mut events = Vec::new();
    if wire == Wire::Ollama {
        let mut framer = LineFramer::new(1 << 20);
        let _ = framer.feed(body, |e| events.push(e.data));
        framer.finish(|e| events.push(e.data));
    } else {
        let mut parser = SseParser::new(1 << 20);
        let _ = parser.feed(body, |e| events.push(e.data));
    }

    let mut reader = StreamReader::new(wire);
    let mut acc = Accumulator::default();
    for data in &events {
        match reader.read(data) {
            Ok(Outcome::Delta(d)) => acc.add(&d),
            Ok(Outcome::Last(d)) => {
                acc.add(&d);
                break;
            }
            Ok(Outcome::Stop) => break,
            Err(e) => check_error(&e, data),
        }
        let _ = reader.ends_at_eof();
        match Delta::parse(data) {
            Ok(d) => acc.add(&d),
            Err(e) => check_error(&e, data),
        }
    }

    let text = String::from_utf8_lossy(body);
    match parse_whole(wire, &text) {
        Ok(d) => Accumulator::default().add(&d),
        Err(e) => check_error(&e, &text),
    }
}

/// `chat_fast_path`: the fast readings of plain chunks and Responses text events agree
/// with serde's on any text.
pub fn chat_fast_path(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        vivavoce::chat::fuzz::check_fast_paths(text);
    }
}
