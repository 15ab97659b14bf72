//! Splitting a response body into events: server-sent events, or one JSON object per line
//! (Ollama's native stream).

use memchr::memchr;

use super::sse::{SseEvent, SseParser, TooLarge};
use super::wire::Framing;

/// The body's framing, with its state between reads.
#[derive(Debug)]
pub(crate) enum Framer {
    Sse(SseParser),
    Lines(LineParser),
}

impl Framer {
    /// A framer refusing events over `limit` bytes.
    pub(crate) fn new(framing: Framing, limit: usize) -> Self {
        match framing {
            Framing::Sse => Framer::Sse(SseParser::new(limit)),
            Framing::Lines => Framer::Lines(LineParser::new(limit)),
        }
    }

    /// Feeds bytes; calls `emit` for each event completed by them.
    #[inline]
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        emit: impl FnMut(SseEvent),
    ) -> Result<(), TooLarge> {
        match self {
            Framer::Sse(p) => p.feed(bytes, emit),
            Framer::Lines(p) => p.feed(bytes, emit),
        }
    }

    /// The rest of a body that did not end in a line end: a last JSON line without its
    /// newline is still an event; so is a last SSE event whose lines all ended but whose
    /// blank line never came (`data: [DONE]\n` at the very end).
    pub(crate) fn finish(&mut self, emit: impl FnMut(SseEvent)) {
        match self {
            Framer::Sse(p) => p.finish(emit),
            Framer::Lines(p) => p.finish(emit),
        }
    }

    /// Whether the body ended inside an event: bytes of it wait after [`finish`](Self::finish).
    pub(crate) fn has_partial(&self) -> bool {
        match self {
            Framer::Sse(p) => p.has_partial(),
            Framer::Lines(p) => !p.buf.is_empty(),
        }
    }
}

/// Newline-delimited JSON: each non-blank line is one event, its text in
/// [`SseEvent::data`]. A CR before the LF is dropped; a UTF-8 character split across
/// reads arrives whole (text is decoded at line ends).
#[derive(Debug)]
pub(crate) struct LineParser {
    buf: Vec<u8>,
    limit: usize,
}

impl LineParser {
    pub(crate) fn new(limit: usize) -> Self {
        LineParser {
            buf: Vec::new(),
            limit,
        }
    }

    pub(crate) fn feed(
        &mut self,
        mut bytes: &[u8],
        mut emit: impl FnMut(SseEvent),
    ) -> Result<(), TooLarge> {
        while let Some(i) = memchr(b'\n', bytes) {
            let line = if self.buf.is_empty() {
                &bytes[..i]
            } else {
                self.buf.extend_from_slice(&bytes[..i]);
                &self.buf[..]
            };
            if line.len() > self.limit {
                return Err(TooLarge { limit: self.limit });
            }
            emit_line(line, &mut emit);
            self.buf.clear();
            bytes = &bytes[i + 1..];
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, mut emit: impl FnMut(SseEvent)) {
        let line = std::mem::take(&mut self.buf);
        emit_line(&line, &mut emit);
    }
}

fn emit_line(line: &[u8], emit: &mut impl FnMut(SseEvent)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    emit(SseEvent {
        data: String::from_utf8_lossy(line).into_owned(),
        ..SseEvent::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]], limit: usize) -> Result<Vec<String>, TooLarge> {
        let mut p = LineParser::new(limit);
        let mut out = Vec::new();
        for piece in pieces {
            p.feed(piece, |e| out.push(e.data))?;
        }
        p.finish(|e| out.push(e.data));
        Ok(out)
    }

    #[test]
    fn lines_split_anywhere_read_the_same() {
        let text = "{\"a\":\"é\"}\r\n\n{\"b\":2}\n{\"c\":3}".as_bytes();
        let whole = lines(&[text], 1 << 10).unwrap();
        assert_eq!(whole, ["{\"a\":\"é\"}", "{\"b\":2}", "{\"c\":3}"]);
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(lines(&[a, b], 1 << 10).unwrap(), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_ended_or_not() {
        assert_eq!(lines(&[b"0123456789\n"], 4), Err(TooLarge { limit: 4 }));
        assert_eq!(lines(&[b"0123", b"456"], 4), Err(TooLarge { limit: 4 }));
        assert_eq!(lines(&[b"0123\n"], 4).unwrap(), ["0123"]);
    }
}
