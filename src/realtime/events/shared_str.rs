//! [`SharedStr`]: a string that shares the received frame's buffer instead of copying out
//! of it, for the large base64 payloads of audio deltas.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::RawJson;

/// An immutable string, usually a slice of the JSON text an event arrived in (so a 6 KB
/// base64 audio delta is not copied out of its frame). Cloning only bumps a reference
/// count.
///
/// It derefs to `str`, so `&delta`, `delta.len()` and `delta.starts_with(…)` work as on a
/// `String`; [`From<String>`], [`From<&str>`] and [`Default`] build one, and
/// [`into_string`](Self::into_string) gives an owned `String`. Serialised and
/// deserialised as a JSON string.
#[derive(Clone, Default)]
pub struct SharedStr {
    text: RawJson,
    start: usize,
    end: usize,
}

impl SharedStr {
    /// `text[start..end]` without copying; `None` when the range is out of bounds or not
    /// on character boundaries.
    pub(crate) fn slice(text: &RawJson, start: usize, end: usize) -> Option<SharedStr> {
        text.as_str().get(start..end)?;
        Some(SharedStr {
            text: text.clone(),
            start,
            end,
        })
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Checked on construction: in bounds and on character boundaries.
        &self.text.as_str()[self.start..self.end]
    }

    /// An owned copy.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        let end = s.len();
        SharedStr {
            text: RawJson::from(s),
            start: 0,
            end,
        }
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr::from(s.to_owned())
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> Self {
        s.into_string()
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl std::hash::Hash for SharedStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SharedStr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_and_compare_as_strings() {
        let raw = RawJson::from(r#"{"delta":"AAAé"}"#);
        let s = SharedStr::slice(&raw, 10, 15).unwrap();
        assert_eq!(s, "AAAé");
        assert_eq!(s.len(), 5);
        assert_eq!(format!("{s:?}"), r#""AAAé""#);
        assert_eq!(s.clone().into_string(), "AAAé");
        assert!(
            SharedStr::slice(&raw, 10, 14).is_none(),
            "inside a character"
        );
        assert!(SharedStr::slice(&raw, 10, 99).is_none(), "out of bounds");
        assert_eq!(SharedStr::from("x"), SharedStr::from("x".to_owned()));
        assert_eq!(&*SharedStr::default(), "");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""AAAé""#);
        let back: SharedStr = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(back, "a\"b");
    }
}
