//! An incremental Server-Sent Events parser.
//!
//! Bytes go in as the network delivers them; complete events come out. Lines end with LF,
//! CR or CRLF (a CR at the end of one read and an LF at the start of the next are one line
//! end); `data:` lines are joined with `\n`; one space after the colon is dropped; comment
//! lines (`: OPENROUTER PROCESSING`) are skipped; `id`, `event` and `retry` are kept. Text
//! is decoded only at line ends, so a UTF-8 character split across reads arrives whole;
//! bytes that are not UTF-8 become U+FFFD (one bad byte costs a character, not the answer).
//! One event larger than the cap is an error rather than unbounded memory.

use memchr::memchr2;

/// One parsed event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `retry:` field in ms, if any.
    pub retry: Option<u64>,
}

/// An event grew past the parser's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The cap, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an SSE event is larger than {} bytes", self.limit)
    }
}

impl std::error::Error for TooLarge {}

/// The parser's state between reads.
#[derive(Debug)]
pub struct SseParser {
    /// A line begun but not ended by the reads so far.
    buf: Vec<u8>,
    /// The previous read ended in CR: an LF first in the next is part of that line end.
    skip_lf: bool,
    current: SseEvent,
    has_data: bool,
    size: usize,
    limit: usize,
}

impl SseParser {
    /// A parser refusing events over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SseParser {
            buf: Vec::new(),
            skip_lf: false,
            current: SseEvent::default(),
            has_data: false,
            size: 0,
            limit,
        }
    }

    /// Feeds bytes; calls `emit` for each event completed by them.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] when one event grows past the cap: its `data` values so far (each
    /// counted with one byte for its line end) and the line being read, of any field,
    /// whether ended in these bytes or not, so the answer does not depend on how the
    /// body was split into reads. The events completed before it in these bytes have been emitted; the rest
    /// of the stream cannot be read reliably (the parser is not reset).
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut emit: impl FnMut(SseEvent),
    ) -> Result<(), TooLarge> {
        if self.skip_lf && !bytes.is_empty() {
            self.skip_lf = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        if !self.buf.is_empty() {
            // The rest of a line begun in an earlier read: only it is copied.
            let Some(end) = memchr2(b'\n', b'\r', bytes) else {
                self.buf.extend_from_slice(bytes);
                return self.check_size();
            };
            self.buf.extend_from_slice(&bytes[..end]);
            let next = self.after_line_end(bytes, end);
            let line = std::mem::take(&mut self.buf);
            let done = self.line(&line, &mut emit);
            self.buf = line;
            self.buf.clear(); // keeps its capacity for the next partial line
            done?;
            bytes = &bytes[next..];
        }
        // Whole lines straight from `bytes`; a partial last line waits in `buf`.
        let mut start = 0;
        while let Some(i) = memchr2(b'\n', b'\r', &bytes[start..]) {
            let end = start + i;
            let next = self.after_line_end(bytes, end);
            self.line(&bytes[start..end], &mut emit)?;
            start = next;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.check_size()
    }

    /// Where the next line starts after the line end (CR, LF or CRLF) at `end`; a CR
    /// last in the read may have its LF first in the next one.
    fn after_line_end(&mut self, bytes: &[u8], end: usize) -> usize {
        if bytes[end] == b'\r' {
            match bytes.get(end + 1) {
                Some(b'\n') => return end + 2,
                None => self.skip_lf = true,
                _ => {}
            }
        }
        end + 1
    }

    fn check_size(&self) -> Result<(), TooLarge> {
        if self.size + self.buf.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], emit: &mut impl FnMut(SseEvent)) -> Result<(), TooLarge> {
        // The same test as a line not yet ended (`check_size`), so that where the reads
        // happen to split the body never decides whether it is refused.
        if self.size + line.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        if line.is_empty() {
            if self.has_data {
                emit(std::mem::take(&mut self.current));
            } else {
                self.current = SseEvent::default();
            }
            self.has_data = false;
            self.size = 0;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // a comment
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (the usual case) is checked without the lossy decoder's overhead.
        let value = match std::str::from_utf8(value) {
            Ok(v) => std::borrow::Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                // Within the cap: the line holding the value was.
                self.size += value.len() + 1;
                // Lines are joined with `\n` as they come, so a one-line event's text is
                // allocated once, at its size.
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.current.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.current.id = Some(value.into_owned()),
            b"retry" => self.current.retry = value.parse().ok(),
            _ => {}
        }
        Ok(())
    }

    /// Whether bytes of an unfinished event are waiting (the stream ended mid-event).
    pub fn has_partial(&self) -> bool {
        self.has_data || !self.buf.is_empty()
    }

    /// The stream has ended: an event whose lines all ended but whose blank line never
    /// came is emitted (the SSE specification drops it; a server ending with
    /// `data: [DONE]\n` meant it). A line cut mid-way stays unfinished
    /// ([`has_partial`](Self::has_partial)).
    pub fn finish(&mut self, mut emit: impl FnMut(SseEvent)) {
        if self.has_data && self.buf.is_empty() {
            self.has_data = false;
            self.size = 0;
            emit(std::mem::take(&mut self.current));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        for piece in pieces {
            p.feed(piece, |e| out.push(e)).unwrap();
        }
        out
    }

    #[test]
    fn fields_comments_and_multi_line_data() {
        let text = b": OPENROUTER PROCESSING\n\nid: 7\nevent: delta\nretry: 1500\ndata: one\ndata:two\ndata:  three\n\n";
        let evs = parse_in(&[text]);
        assert_eq!(
            evs,
            vec![SseEvent {
                id: Some("7".into()),
                event: Some("delta".into()),
                data: "one\ntwo\n three".into(),
                retry: Some(1500),
            }]
        );
    }

    #[test]
    fn every_line_ending_and_every_split_point() {
        let text = "data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: é€😀\n\n".as_bytes();
        let want: Vec<&str> = vec!["a", "b", "c", "é€😀"];
        for cut in 0..text.len() {
            for cut2 in cut..text.len() {
                let evs = parse_in(&[&text[..cut], &text[cut..cut2], &text[cut2..]]);
                let data: Vec<&str> = evs.iter().map(|e| e.data.as_str()).collect();
                assert_eq!(data, want, "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn an_oversized_event_is_an_error() {
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 0123456789\n", |_| {}).is_ok());
        assert_eq!(
            p.feed(b"data: 0123456789\n", |_| {}),
            Err(TooLarge { limit: 16 })
        );
        assert_eq!(
            TooLarge { limit: 16 }.to_string(),
            "an SSE event is larger than 16 bytes"
        );
        let mut p = SseParser::new(16);
        assert!(
            p.feed(b"data: 01234567890123456789", |_| {}).is_err(),
            "unterminated too"
        );
        // Any field's line, whole in one read or not: the split never decides.
        for cut in 0..=25 {
            let text = b"data: 0123456789
event: 0123456789abcdef

";
            let mut p = SseParser::new(16);
            let got = p
                .feed(&text[..cut], |_| {})
                .and_then(|()| p.feed(&text[cut..], |_| {}));
            assert_eq!(got, Err(TooLarge { limit: 16 }), "cut at {cut}");
        }
    }

    #[test]
    fn at_the_end_an_ended_event_is_emitted_and_a_cut_line_stays_partial() {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        p.feed(b"data: a\n\ndata: [DONE]\n", |e| out.push(e.data))
            .unwrap();
        p.finish(|e| out.push(e.data));
        assert_eq!(out, ["a", "[DONE]"]);
        assert!(!p.has_partial());
        let mut p = SseParser::new(1024);
        p.feed(b"data: {\"x\"", |_| panic!("nothing ended"))
            .unwrap();
        p.finish(|_| panic!("a cut line is not an event"));
        assert!(p.has_partial());
    }

    #[test]
    fn done_and_partial_tail() {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        p.feed(b"data: [DONE]\n\ndata: {\"x\"", |e| out.push(e))
            .unwrap();
        assert_eq!(out[0].data, "[DONE]");
        assert!(p.has_partial());
    }
}
