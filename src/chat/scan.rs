//! A small JSON cursor for the fast paths of the stream readers.
//!
//! Nearly every event of a long answer has the same plain shape (a chunk with one choice
//! and a few characters of content), and serde's general machinery spends most of a
//! chunk's CPU reading it. The fast paths read that shape with this cursor and give up —
//! `None` — on anything else: a value of another type, an escaped key, a repeated field,
//! a nested value too deep, or text that is not JSON. serde then reads the event from the
//! start, so every answer, and every error with its position, is serde's own; the fast
//! paths only ever agree with it (`tests` below and the `chat_fast_path` fuzz target
//! check that they do).

use std::borrow::Cow;

/// How deep an ignored value may nest before the fast path leaves it to serde.
const MAX_DEPTH: usize = 32;

/// A position in a JSON text. Every method skips whitespace first and returns `None`
/// when the text there is not what it reads.
pub(super) struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Scan { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes `b`.
    pub(super) fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// Consumes `null` if it comes next: whether it did.
    pub(super) fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.word(b"null")?;
        Some(true)
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes().get(self.at..end)? == word).then(|| self.at = end)
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// A string whose text has no escapes, as it stands in the JSON.
    pub(super) fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = plain_len(&self.bytes()[start..]);
        let end = start + len;
        if self.bytes().get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    /// A string, its escapes decoded (by serde_json, so exactly as serde reads them).
    pub(super) fn str(&mut self) -> Option<Cow<'a, str>> {
        if self.peek()? != b'"' {
            return None;
        }
        let open = self.at;
        let bytes = self.bytes();
        let mut i = open + 1;
        let mut escaped = false;
        loop {
            i += plain_len(bytes.get(i..)?);
            match *bytes.get(i)? {
                b'"' => break,
                // An escape: skip the backslash and the byte after it (`\"`, `\\`, `\u`…).
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => return None,
            }
        }
        self.at = i + 1;
        if !escaped {
            return self.text.get(open + 1..i).map(Cow::Borrowed);
        }
        serde_json::from_str::<String>(self.text.get(open..=i)?)
            .ok()
            .map(Cow::Owned)
    }

    /// `null` or a string.
    pub(super) fn opt_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null()? {
            return Some(None);
        }
        self.str().map(Some)
    }

    /// An unsigned integer that fits a `u32`, written without a fraction or exponent.
    pub(super) fn u32(&mut self) -> Option<u32> {
        self.peek()?;
        let digits = self.bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = self.text.get(self.at..self.at + digits)?;
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        if matches!(self.bytes().get(self.at + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n = text.parse().ok()?;
        self.at += digits;
        Some(n)
    }

    /// Reads an object's members: `member` is called with each key (a plain string) and
    /// reads its value.
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array's elements: `element` reads each.
    pub(super) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips any value.
    pub(super) fn skip(&mut self) -> Option<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.str().map(drop),
            b'{' if depth < MAX_DEPTH => self.object(|s, _| s.skip_at(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.array(|s| s.skip_at(depth + 1)),
            b'n' => self.word(b"null"),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A number as JSON writes them, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, and
    /// small enough that serde reads it as a finite number: at most 20 digits before and
    /// after the point and a two-digit exponent (serde refuses one out of `f64`'s range).
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let mut i = self.at;
        let digits = |i: &mut usize, most: usize| {
            let start = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            let n = *i - start;
            (1..=most).contains(&n).then_some(n)
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let first = *bytes.get(i)?;
        let n = digits(&mut i, 20)?;
        if first == b'0' && n > 1 {
            return None;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i, 20)?;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            digits(&mut i, 2)?;
        }
        self.at = i;
        Some(())
    }
}

/// How many bytes from the start of `bytes` need no attention inside a string: not a
/// quote, a backslash or a control character. Eight bytes at a time: the lowest byte
/// flagged in a word is always a true match.
fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut i = 0;
    while let Some(Ok(word)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let x = u64::from_le_bytes(word);
        let hits = (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - i)
}

/// Marks a field as read; `None` if it was read before (serde refuses or treats a
/// repeated field in ways the fast paths leave to it).
pub(super) fn once(seen: &mut u8, bit: u8) -> Option<()> {
    let first = *seen & bit == 0;
    *seen |= bit;
    first.then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scan::new(text);
        s.skip().is_some() && s.end().is_some()
    }

    #[test]
    fn skips_what_json_allows_and_nothing_else() {
        for ok in [
            "0",
            "-0.5e+10",
            "12E3",
            r#" {"a" : [1, true, false, null, "x\"y", {}] } "#,
            "[]",
            r#""\u00e9""#,
        ] {
            assert!(skips(ok), "{ok}");
        }
        for bad in [
            // Numbers serde may find out of range are left to it.
            "6e666",
            "1e-100",
            "123456789012345678901",
            "01",
            "1.",
            "-",
            ".5",
            "1e",
            "nul",
            "tru",
            "[1,]",
            "{,}",
            r#"{"a"}"#,
            r#""a"#,
            "\"a\u{1}\"",
            r#""\x""#,
            "[1 2]",
            "{\"a\":1,}",
        ] {
            assert!(!skips(bad), "{bad}");
        }
    }

    #[test]
    fn strings_decode_as_serde_does() {
        let mut s = Scan::new(r#""caf\u00e9 \"ok\"\n""#);
        assert_eq!(s.str().as_deref(), Some("café \"ok\"\n"));
        let mut s = Scan::new(r#""plain""#);
        assert!(matches!(s.str(), Some(Cow::Borrowed("plain"))));
        // A lone surrogate is serde's to refuse.
        assert_eq!(Scan::new(r#""\ud800""#).str(), None);
        // Keys with escapes are left to serde.
        assert_eq!(Scan::new(r#""\u0069d""#).plain_str(), None);
    }

    #[test]
    fn plain_len_stops_at_the_first_byte_needing_attention() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        let mut text: Vec<u8> = (0u8..=255).collect();
        text.extend_from_slice("abcdefgh\"ijklmno\\pqé\u{1}xyz".as_bytes());
        for start in 0..text.len() {
            for end in start..text.len().min(start + 40) {
                let b = &text[start..end];
                assert_eq!(plain_len(b), slow(b), "{b:?}");
            }
        }
    }

    #[test]
    fn u32_only_as_plain_digits_in_range() {
        assert_eq!(Scan::new("4294967295").u32(), Some(u32::MAX));
        for bad in ["4294967296", "-1", "1.0", "1e2", "01", "x"] {
            assert_eq!(Scan::new(bad).u32(), None, "{bad}");
        }
    }

    #[test]
    fn deep_values_are_left_to_serde() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!skips(&deep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(skips(&ok));
    }
}
