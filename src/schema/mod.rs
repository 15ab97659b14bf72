//! JSON Schema validation of events (feature `schema`), against the schemas in `schemas/`.
//!
//! The schemas are generated from OpenAI's OpenAPI spec by `cargo xtask schemas` and
//! embedded in the crate. Outgoing (client) schemas are closed: an unknown field is an
//! error, as the API makes it. [`Validator`] compiles them once; clones share them.
//!
//! Turn it on for a connection with [`ConnectOptions::check`]: an invalid event makes
//! `send` return [`Error::InvalidEvent`] listing every violation, and nothing is sent;
//! incoming events that break their schema are delivered after a
//! [`ServerEvent::Warning`].
//!
//! ```
//! use std::sync::Arc;
//! use vivavoce::realtime::ConnectOptions;
//! use vivavoce::realtime::events::InputAudioBufferAppend;
//! use vivavoce::schema::{Side, Validator};
//!
//! let validator = Validator::shared()?;
//! let options = ConnectOptions::default().check(Arc::new(validator.clone()));
//! # let _ = options;
//! let bad = serde_json::json!({"type": "input_audio_buffer.append", "audio": 5});
//! let errors = validator.validate(Side::Client, &bad).unwrap_err();
//! assert_eq!(errors[0].instance_path, "/audio");
//! # Ok::<(), vivavoce::Error>(())
//! ```
//!
//! [`ConnectOptions::check`]: crate::realtime::ConnectOptions::check
//! [`ServerEvent::Warning`]: crate::realtime::ServerEvent::Warning

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::Error;
use crate::realtime::events::Warning;
use crate::realtime::{EventCheck, ServerEvent};

mod files;

/// Which way an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// Sent by the client (`session.update`, `input_audio_buffer.append`, …).
    Client,
    /// Sent by the server.
    Server,
}

/// One way an event breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Where in the event (a JSON pointer, e.g. `/session/audio/output/format`).
    pub instance_path: String,
    /// What is wrong.
    pub message: String,
    /// The schema rule that failed (a JSON pointer into the event's schema).
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.instance_path.is_empty() {
            "/"
        } else {
            &self.instance_path
        };
        write!(f, "{path}: {} (rule {})", self.message, self.rule)
    }
}

struct Inner {
    client: HashMap<&'static str, jsonschema::Validator>,
    server: HashMap<&'static str, jsonschema::Validator>,
}

/// The compiled schemas of every GA client and server event. Cheap to clone (shared).
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("client_events", &self.inner.client.len())
            .field("server_events", &self.inner.server.len())
            .finish()
    }
}

fn compile(
    files: &'static [(&'static str, &'static str)],
) -> Result<HashMap<&'static str, jsonschema::Validator>, Error> {
    files
        .iter()
        .map(|&(ty, text)| {
            let bad = |message: String| Error::InvalidSchema { name: ty, message };
            let schema: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            let v = jsonschema::validator_for(&schema).map_err(|e| bad(e.to_string()))?;
            Ok((ty, v))
        })
        .collect()
}

impl Validator {
    /// Compiles all the schemas (a few ms). Prefer [`shared`](Self::shared).
    pub fn new() -> Result<Self, Error> {
        Ok(Validator {
            inner: Arc::new(Inner {
                client: compile(files::CLIENT)?,
                server: compile(files::SERVER)?,
            }),
        })
    }

    /// One validator for the whole process, compiled on first use.
    pub fn shared() -> Result<Self, Error> {
        static SHARED: OnceLock<Result<Validator, Error>> = OnceLock::new();
        SHARED.get_or_init(Validator::new).clone()
    }

    /// The event types known for `side`.
    pub fn event_types(&self, side: Side) -> impl Iterator<Item = &'static str> + '_ {
        self.schemas(side).keys().copied()
    }

    fn schemas(&self, side: Side) -> &HashMap<&'static str, jsonschema::Validator> {
        match side {
            Side::Client => &self.inner.client,
            Side::Server => &self.inner.server,
        }
    }

    /// Checks one event; on failure, every violation.
    pub fn validate(&self, side: Side, event: &Value) -> Result<(), Vec<Violation>> {
        let Some(ty) = event.get("type").and_then(Value::as_str) else {
            return Err(vec![Violation {
                instance_path: "/type".into(),
                message: "the event has no string `type`".into(),
                rule: "/required".into(),
            }]);
        };
        let Some(schema) = self.schemas(side).get(ty) else {
            let side_name = if side == Side::Client {
                "client"
            } else {
                "server"
            };
            return Err(vec![Violation {
                instance_path: "/type".into(),
                message: format!("unknown {side_name} event type '{ty}'"),
                rule: "/properties/type/enum".into(),
            }]);
        };
        let mut errors = Vec::new();
        for e in schema.iter_errors(event) {
            explain(&e, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks an outgoing event; the error is [`Error::InvalidEvent`].
    pub fn check_client(&self, event: &Value) -> Result<(), Error> {
        self.validate(Side::Client, event).map_err(|v| {
            let ty = event.get("type").and_then(Value::as_str).unwrap_or("event");
            invalid(ty, &v)
        })
    }
}

/// Turns a validation error into violations. An `anyOf`/`oneOf` that failed on every
/// branch is explained by the branch the value meant — the one whose `type` tag matched
/// (e.g. a `realtime` session) — so the path points at the actual mistake rather than at
/// the union; when no single branch matches its tag, the union itself is reported.
fn explain(e: &jsonschema::ValidationError<'_>, out: &mut Vec<Violation>) {
    use jsonschema::error::ValidationErrorKind as K;
    let branches = match e.kind() {
        K::AnyOf { context } | K::OneOfNotValid { context } => Some(context),
        _ => None,
    };
    if let Some(branches) = branches {
        let here = e.instance_path().to_string();
        let tag = format!("{here}/type");
        let meant: Vec<_> = branches
            .iter()
            .filter(|errs| !errs.iter().any(|x| x.instance_path().to_string() == tag))
            .collect();
        if let [errs] = meant.as_slice()
            && !errs.is_empty()
        {
            errs.iter().for_each(|x| explain(x, out));
            return;
        }
    }
    out.push(Violation {
        instance_path: e.instance_path().to_string(),
        message: e.to_string(),
        rule: e.schema_path().to_string(),
    });
}

/// The error for an event with these violations.
fn invalid(event_type: &str, violations: &[Violation]) -> Error {
    Error::InvalidEvent {
        event_type: event_type.into(),
        instance_path: violations
            .first()
            .map(|v| v.instance_path.as_str())
            .unwrap_or_default()
            .into(),
        message: lines(violations),
    }
}

fn lines(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl EventCheck for Validator {
    fn outgoing(&self, event_type: &str, json: &str) -> Result<(), Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| Error::Serialize {
            event_type: event_type.to_owned(),
            message: e.to_string(),
        })?;
        self.check_client(&value)
    }

    fn incoming(&self, event: &ServerEvent) -> Option<Warning> {
        let raw = event.raw()?;
        let value: Value = match serde_json::from_str(raw.as_str()) {
            Ok(v) => v,
            Err(e) => {
                return Some(Warning::new(
                    event.event_type(),
                    format!("/: not JSON: {e}"),
                ));
            }
        };
        let violations = self.validate(Side::Server, &value).err()?;
        let ty = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        tracing::warn!(
            event_type = ty,
            violations = violations.len(),
            "server event breaks its schema"
        );
        Some(Warning::new(ty, lines(&violations)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn first(side: Side, v: Value) -> Violation {
        Validator::shared()
            .unwrap()
            .validate(side, &v)
            .unwrap_err()
            .remove(0)
    }

    #[test]
    fn all_57_schemas_compile() {
        let v = Validator::shared().unwrap();
        assert_eq!(v.event_types(Side::Client).count(), 11);
        assert_eq!(v.event_types(Side::Server).count(), 46);
    }

    #[test]
    fn violations_name_the_path() {
        let e = first(
            Side::Client,
            json!({"type": "session.update", "session": {"type": "realtime", "instructons": "hi"}}),
        );
        assert_eq!(e.instance_path, "/session");
        assert!(e.message.contains("instructons"), "{e}");
        let e = first(
            Side::Client,
            json!({"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 5}),
        );
        assert!(e.message.contains("item_id"), "{e}");
        let e = first(Side::Client, json!({"type": "no.such.event"}));
        assert_eq!(
            (e.instance_path.as_str(), e.message.as_str()),
            ("/type", "unknown client event type 'no.such.event'")
        );
    }

    #[test]
    fn the_error_lists_every_violation() {
        let v = Validator::shared().unwrap();
        let bad = json!({"type": "conversation.item.truncate", "item_id": 5, "content_index": "x", "audio_end_ms": -1});
        let Err(Error::InvalidEvent {
            event_type,
            message,
            ..
        }) = v.check_client(&bad)
        else {
            panic!("expected InvalidEvent")
        };
        assert_eq!(&*event_type, "conversation.item.truncate");
        assert_eq!(message.lines().count(), 3, "{message}");
    }
}
