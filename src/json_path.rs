//! Where in a JSON text a parse failed, as a path (`choices[0].delta.content`).
//!
//! serde_json's errors give a line and column; the path is found by walking the text up
//! to that position, tracking the keys and indices of the values being read. One plain
//! function serves every type, so nothing is generated per type for the (rare) failure
//! path — which keeps the programs small.

/// `error`'s message with the path in front (`usage.total_tokens: invalid value: …`), or
/// the message alone when the failure is at the top level.
#[cold]
#[inline(never)]
pub(crate) fn describe(text: &str, error: &serde_json::Error) -> String {
    match path_of(text, error) {
        Some(path) => format!("{path}: {error}"),
        None => error.to_string(),
    }
}

/// The path of the value `error` was met in, or `None` at the top level.
#[cold]
#[inline(never)]
pub(crate) fn path_of(text: &str, error: &serde_json::Error) -> Option<String> {
    path_at(text, offset_of(text, error.line(), error.column()))
}

/// The byte offset of serde_json's 1-based line and column (a column counts bytes; 0
/// means the line's start).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match memchr::memchr(b'\n', &text.as_bytes()[start..]) {
            Some(n) => start += n + 1,
            None => return text.len(),
        }
    }
    start + column.saturating_sub(1)
}

/// What is open at some point of the text.
enum Open {
    /// An object, and the key of the member being read (`None` before its key).
    Object(Option<String>),
    /// An array, and the index of the element being read.
    Array(usize),
}

/// The path of the value that the byte at `offset` belongs to (the byte included, so a
/// failure reported at an object's closing brace names the object).
fn path_at(text: &str, offset: usize) -> Option<String> {
    let b = text.as_bytes();
    let last = offset.min(b.len().checked_sub(1)?);
    let mut open: Vec<Open> = Vec::new();
    // Whether the next string in the innermost object is a key.
    let mut key_next = false;
    let mut i = 0;
    while i <= last {
        match b[i] {
            b'"' => {
                let end = string_end(b, i + 1);
                if key_next && let Some(Open::Object(key)) = open.last_mut() {
                    // A key cut off by the position is not a key yet.
                    *key = end
                        .filter(|&e| e <= last)
                        .map(|e| unescape(&text[i + 1..e]));
                    key_next = false;
                }
                match end {
                    Some(e) => i = e,
                    None => break,
                }
            }
            b'{' => {
                open.push(Open::Object(None));
                key_next = true;
            }
            b'[' => {
                open.push(Open::Array(0));
                key_next = false;
            }
            b'}' | b']' => {
                open.pop();
                key_next = false;
            }
            b',' => match open.last_mut() {
                Some(Open::Array(index)) => *index += 1,
                Some(Open::Object(key)) => {
                    *key = None;
                    key_next = true;
                }
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for o in &open {
        match o {
            Open::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Open::Object(None) => break,
            Open::Array(index) => path.push_str(&format!("[{index}]")),
        }
    }
    (!path.is_empty()).then_some(path)
}

/// The offset of the quote closing the string whose text starts at `from`, if any.
fn string_end(b: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr2(b'"', b'\\', b.get(from..)?)?;
        if b[at] == b'"' {
            return Some(at);
        }
        from = at + 2; // Past the backslash and the character it escapes.
    }
}

/// A key's text with its escapes read (as written when they do not read).
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path and message for `text` parsed as a `T`.
    fn failure<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        describe(text, &serde_json::from_str::<T>(text).unwrap_err())
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        items: Vec<Item>,
        usage: Option<Usage>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        #[serde(default)]
        parts: Vec<u32>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Usage {
        total: u32,
    }

    #[test]
    fn names_the_value_that_failed() {
        let cases = [
            (
                r#"{"items":[{"id":7}]}"#,
                "items[0].id: invalid type: integer",
            ),
            (
                r#"{"items":[{"id":"a"},{"id":"b","parts":[1,-2]}]}"#,
                "items[1].parts[1]: invalid value: integer `-2`",
            ),
            (r#"{"items":[],"usage":{"total":"x"}}"#, "usage.total: "),
            // A missing field is reported at the closing brace: the object is named.
            (
                r#"{"items":[{"id":"a"},{}]}"#,
                "items[1]: missing field `id`",
            ),
            (r#"{"items":[5]}"#, "items[0]: invalid type: integer `5`"),
            // Cut short inside a value.
            (r#"{"items":[{"id":"cu"#, "items[0].id: EOF while parsing"),
            // Keys with escapes, and across lines.
            (
                "{\"it\\u0065ms\":\n[{\"id\":\n1}]}",
                "items[0].id: invalid type",
            ),
            // Strings holding brackets, commas and escaped quotes are skipped whole.
            (
                r#"{"items":[{"id":"a,[{\"}","parts":[true]}]}"#,
                "items[0].parts[0]: invalid type: boolean",
            ),
        ];
        for (text, expected) in cases {
            let got = failure::<Doc>(text);
            assert!(got.starts_with(expected), "{text}: {got}");
        }
    }

    #[test]
    fn the_top_level_has_no_path() {
        for text in [
            "{not json",
            r#"{"items":[]} more"#,
            r#""hello""#,
            "",
            "{\"ite",
        ] {
            let e = serde_json::from_str::<Doc>(text).unwrap_err();
            assert_eq!(path_of(text, &e), None, "{text}");
            assert_eq!(describe(text, &e), e.to_string());
        }
    }

    #[test]
    fn any_position_in_any_text_is_safe() {
        let texts = [
            "",
            "\"",
            "\"\\",
            "{\"a\":[",
            "]]]}}}",
            "{\"a\\",
            "[1,2,{\"b\":\"\\\"\"}]",
        ];
        for text in texts {
            for offset in 0..text.len() + 2 {
                let _ = path_at(text, offset);
            }
            for line in 0..3 {
                for column in 0..text.len() + 2 {
                    let _ = path_at(text, offset_of(text, line, column));
                }
            }
        }
    }
}
