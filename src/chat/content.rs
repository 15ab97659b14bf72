//! The parts of a chunk that providers write in more than one shape: `delta.content` as a
//! string or as a list of typed parts (Mistral's reasoning models), and the token log
//! probabilities of `choices[].logprobs`.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// `delta.content`, read from a string or from a list of typed parts: `text` parts go to
/// the text, `thinking` parts to the reasoning; other kinds (images, references) are
/// skipped.
#[derive(Debug, Default)]
pub(super) struct Content {
    pub(super) text: Option<String>,
    pub(super) thinking: Option<String>,
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of content parts")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content {
            text: Some(v),
            thinking: None,
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut out = Content::default();
        while let Some(part) = seq.next_element::<Part>()? {
            match part.kind.as_deref() {
                Some("thinking") => {
                    let thinking = out.thinking.get_or_insert_with(String::new);
                    if let Some(t) = &part.thinking {
                        t.collect(thinking);
                    }
                    if let Some(t) = &part.text {
                        thinking.push_str(t);
                    }
                }
                Some("text") | None => {
                    if let Some(t) = part.text {
                        out.text.get_or_insert_with(String::new).push_str(&t);
                    }
                }
                Some(_) => {}
            }
        }
        Ok(out)
    }
}

/// One typed part of a content list.
#[derive(Deserialize)]
#[serde(expecting = "a content part object")]
struct Part {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    thinking: Option<Thinking>,
}

/// A `thinking` part's text: a string, or (Mistral) a list of text parts.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string or a list of text parts")]
enum Thinking {
    Text(String),
    Parts(Vec<Part>),
}

impl Thinking {
    fn collect(&self, out: &mut String) {
        match self {
            Thinking::Text(t) => out.push_str(t),
            Thinking::Parts(parts) => {
                for p in parts {
                    if let Some(t) = &p.text {
                        out.push_str(t);
                    }
                    if let Some(t) = &p.thinking {
                        t.collect(out);
                    }
                }
            }
        }
    }
}

/// One token of `choices[].logprobs.content[]`, sent when the request asks for
/// `logprobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenLogprob {
    /// The token.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
    /// The most likely tokens at this place (`top_logprobs`), when asked for.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub top_logprobs: Vec<TopLogprob>,
}

/// One of the most likely tokens at a place: see [`TokenLogprob::top_logprobs`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopLogprob {
    /// The token.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
}

/// `choices[].logprobs` (`null` in most chunks).
#[derive(Deserialize)]
#[serde(expecting = "a logprobs object")]
pub(super) struct RawLogprobs {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(super) content: Vec<TokenLogprob>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(json: &str) -> Content {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn content_reads_from_a_string_or_typed_parts() {
        let c = content(r#""plain""#);
        assert_eq!((c.text.as_deref(), c.thinking), (Some("plain"), None));
        let c = content(
            r#"[{"type":"thinking","thinking":[{"type":"text","text":"Let me "},{"type":"text","text":"see."}]},{"type":"text","text":"Four."},{"type":"image_url","image_url":"x"}]"#,
        );
        assert_eq!(c.text.as_deref(), Some("Four."));
        assert_eq!(c.thinking.as_deref(), Some("Let me see."));
        let c = content(r#"[{"type":"thinking","thinking":"flat"}]"#);
        assert_eq!((c.text, c.thinking.as_deref()), (None, Some("flat")));
        assert!(serde_json::from_str::<Content>("7").is_err());
        assert!(serde_json::from_str::<Content>(r#"[{"type":"text","text":7}]"#).is_err());
    }
}
