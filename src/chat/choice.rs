//! Reading one choice of a chunk straight into a [`ChoiceDelta`], field by field.
//!
//! Written by hand rather than derived through intermediate structs: a choice is read once
//! per chunk, and the derived intermediates (now that a delta has reasoning and log
//! probabilities too) were large enough to be copied several times per chunk.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::content::{Content, RawLogprobs};
use super::delta::{ChoiceDelta, ToolCallDelta};

/// Reads a choice as the API writes it (`delta`, or `message` in a whole completion).
impl<'de> Deserialize<'de> for ChoiceDelta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("ChoiceDelta", CHOICE, ChoiceVisitor)
    }
}

const CHOICE: &[&str] = &["index", "delta", "message", "finish_reason", "logprobs"];
const DELTA: &[&str] = &[
    "content",
    "role",
    "refusal",
    "tool_calls",
    "reasoning_content",
    "reasoning",
];

/// Which of `names` a key is (`names.len()` for any other key), read without allocating.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Ok(self.0.iter().position(|n| *n == v).unwrap_or(self.0.len()))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<usize, E> {
        Ok(self
            .0
            .iter()
            .position(|n| n.as_bytes() == v)
            .unwrap_or(self.0.len()))
    }
}

struct ChoiceVisitor;

impl<'de> Visitor<'de> for ChoiceVisitor {
    type Value = ChoiceDelta;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a choice object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChoiceDelta, A::Error> {
        let mut c = ChoiceDelta::default();
        while let Some(key) = map.next_key_seed(Key(CHOICE))? {
            match key {
                0 => c.index = map.next_value::<Option<u32>>()?.unwrap_or(0),
                1 | 2 => map.next_value_seed(DeltaSeed(&mut c))?,
                3 => c.finish_reason = map.next_value()?,
                4 => {
                    if let Some(l) = map.next_value::<Option<RawLogprobs>>()? {
                        c.logprobs = l.content;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(c)
    }
}

/// Reads `delta` (or `message`, or `null`) into the choice.
struct DeltaSeed<'c>(&'c mut ChoiceDelta);

impl<'de> DeserializeSeed<'de> for DeltaSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DeltaSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta object")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_struct("Delta", DELTA, self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let c = self.0;
        let mut thinking = None;
        let (mut reasoning_content, mut reasoning) = (None, None);
        while let Some(key) = map.next_key_seed(Key(DELTA))? {
            match key {
                0 => {
                    if let Some(content) = map.next_value::<Option<Content>>()? {
                        c.content = content.text;
                        thinking = content.thinking;
                    }
                }
                1 => c.role = map.next_value()?,
                2 => c.refusal = map.next_value()?,
                3 => {
                    c.tool_calls = map
                        .next_value::<Option<Vec<ToolCallDelta>>>()?
                        .unwrap_or_default();
                }
                4 => reasoning_content = map.next_value::<Option<String>>()?,
                5 => reasoning = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // Some servers send the same text as both `reasoning_content` and `reasoning`.
        let field = reasoning_content.or(reasoning);
        c.reasoning = match (thinking, field) {
            (Some(mut t), Some(f)) => {
                t.push_str(&f);
                Some(t)
            }
            (t, f) => t.or(f),
        };
        Ok(())
    }
}
