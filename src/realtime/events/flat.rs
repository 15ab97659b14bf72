//! A parser for flat JSON objects (string and unsigned integer values only, strings
//! without escapes), for the audio deltas that make up most of a session: it finds the
//! end of the 6 KB base64 string with vectorised passes instead of a byte-by-byte scan.
//! Anything else (an escape, a nested value, a key it was not asked for, a duplicate)
//! makes it give up, and the caller parses with serde, which also reports what is wrong.

/// One value of a flat object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flat<'a> {
    /// A string without escapes, with its byte offset in the text.
    Str(&'a str, usize),
    /// An unsigned integer that fits in 32 bits.
    U32(u32),
}

/// Parses `text` as an object whose keys are all in `keys`, at most once each; returns
/// the values in the order of `keys` (`None` for those absent). `None` when the text is
/// not such an object.
pub(crate) fn parse_flat<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
) -> Option<[Option<Flat<'a>>; N]> {
    let b = text.as_bytes();
    let mut out = [None; N];
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        let (key, _, after) = string(text, i)?;
        let slot = keys.iter().position(|k| *k == key)?;
        i = skip_ws(b, after);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value = match b.get(i)? {
            b'"' => {
                let (s, at, after) = string(text, i)?;
                i = after;
                Flat::Str(s, at)
            }
            b'0'..=b'9' => {
                let (n, after) = number(b, i)?;
                i = after;
                Flat::U32(n)
            }
            _ => return None,
        };
        if out[slot].replace(value).is_some() {
            return None; // A duplicate key.
        }
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return (skip_ws(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

/// The fields of a delta event (audio, text or transcript) in its usual flat shape.
#[derive(Debug, PartialEq)]
pub(crate) struct DeltaFields<'a> {
    pub(crate) event_id: String,
    pub(crate) response_id: String,
    pub(crate) item_id: String,
    pub(crate) output_index: u32,
    pub(crate) content_index: u32,
    /// The delta, a slice of the text…
    pub(crate) delta: &'a str,
    /// …starting at this byte offset.
    pub(crate) at: usize,
}

/// Reads a delta event of the usual shape (`type`, `event_id`, `response_id`, `item_id`,
/// `output_index`, `content_index` and `delta`, strings without escapes); `None` for
/// anything else, which serde then parses or reports.
pub(crate) fn delta_fields(text: &str) -> Option<DeltaFields<'_>> {
    const KEYS: [&str; 7] = [
        "type",
        "event_id",
        "response_id",
        "item_id",
        "output_index",
        "content_index",
        "delta",
    ];
    let [
        ty,
        event_id,
        response_id,
        item_id,
        output_index,
        content_index,
        delta,
    ] = parse_flat(text, KEYS)?;
    let string = |v: Option<Flat<'_>>| match v? {
        Flat::Str(s, _) => Some(s.to_owned()),
        Flat::U32(_) => None,
    };
    let index = |v: Option<Flat<'_>>| match v? {
        Flat::U32(n) => Some(n),
        Flat::Str(..) => None,
    };
    if let Some(Flat::U32(_)) = ty {
        return None;
    }
    let Some(Flat::Str(delta, at)) = delta else {
        return None;
    };
    Some(DeltaFields {
        event_id: match event_id {
            None => String::new(),
            some => string(some)?,
        },
        response_id: string(response_id)?,
        item_id: string(item_id)?,
        output_index: index(output_index)?,
        content_index: index(content_index)?,
        delta,
        at,
    })
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string starting with the quote at `i`: its contents, their offset, and the
/// offset after the closing quote. `None` on an escape or a control character.
fn string(text: &str, i: usize) -> Option<(&str, usize, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let end = start + plain_len(&b[start..])?;
    // Both ends are ASCII quotes, so they are character boundaries.
    Some((&text[start..end], start, end + 1))
}

/// How many bytes of `b` come before its first `"`; `None` when a `\\` or a control
/// character (below 0x20, not allowed unescaped in a JSON string) comes first, or there
/// is no quote.
fn plain_len(b: &[u8]) -> Option<usize> {
    let len = memchr::memchr2(b'"', b'\\', b)?;
    // The smallest byte, with no early exit: a vector minimum over 16 or 32 bytes a step.
    let least = b[..len].iter().fold(u8::MAX, |l, &c| l.min(c));
    (b[len] == b'"' && least >= 0x20).then_some(len)
}

/// A JSON integer (no sign, fraction or exponent; no leading zero) that fits in `u32`.
fn number(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let end = i + digits;
    if (digits > 1 && b[i] == b'0') || matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let n = std::str::from_utf8(&b[i..end]).ok()?.parse().ok()?;
    Some((n, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 3] = ["type", "n", "s"];

    #[test]
    fn reads_flat_objects() {
        let text = r#" { "type" : "a.b", "n":42,"s":"x y" } "#;
        let [t, n, s] = parse_flat(text, KEYS).unwrap();
        assert_eq!(t, Some(Flat::Str("a.b", 13)));
        assert_eq!(n, Some(Flat::U32(42)));
        let Some(Flat::Str(s, at)) = s else { panic!() };
        assert_eq!((s, &text[at..at + 3]), ("x y", "x y"));
        assert_eq!(parse_flat("{}", KEYS), Some([None, None, None]));
        assert_eq!(
            parse_flat(r#"{"n":0}"#, KEYS),
            Some([None, Some(Flat::U32(0)), None])
        );
    }

    #[test]
    fn quotes_escapes_and_control_characters_are_found_anywhere() {
        for len in [0usize, 1, 31, 32, 33, 63, 64, 65, 127, 128, 6400, 6401] {
            let mut s = vec![b'A'; len];
            assert_eq!(plain_len(&s), None, "{len}: no quote");
            s.push(b'"');
            assert_eq!(plain_len(&s), Some(len), "{len}");
            for at in [0, len / 2, len.saturating_sub(1)] {
                if at < len {
                    for (c, want) in [(b'"', Some(at)), (b'\\', None), (0x1f, None), (0, None)] {
                        s[at] = c;
                        assert_eq!(plain_len(&s), want, "{len}: {c:#04x} at {at}");
                    }
                    s[at] = 0x20;
                    assert_eq!(plain_len(&s), Some(len), "{len}: a space at {at}");
                    s[at] = 0xc3; // A byte of a multi-byte character is plain.
                    assert_eq!(plain_len(&s), Some(len), "{len}: 0xc3 at {at}");
                    s[at] = b'A';
                }
            }
        }
    }

    #[test]
    fn gives_up_on_anything_else() {
        for text in [
            r#"{"s":"a\"b"}"#,      // escape
            "{\"s\":\"a\u{1}b\"}",  // control character
            r#"{"other":"x"}"#,     // a key not asked for
            r#"{"s":"x","s":"y"}"#, // duplicate
            r#"{"n":01}"#,          // leading zero
            r#"{"n":1.5}"#,         // fraction
            r#"{"n":-1}"#,          // sign
            r#"{"n":4294967296}"#,  // too large
            r#"{"s":{"a":1}}"#,     // nested
            r#"{"s":"x"} x"#,       // trailing text
            r#"{"s":"x""#,          // unterminated
            r#"{"s":"x",}"#,        // trailing comma
            r#"["s"]"#,
            "",
        ] {
            assert_eq!(parse_flat(text, KEYS), None, "{text}");
        }
    }
}
