//! PLACEHOLDER: the ollama shape of a simulated answer (to be written).

use serde_json::{Value, json};

use super::chat_chunks::Reply;

/// The stream's events, each framed.
pub(crate) fn events(reply: &Reply) -> Vec<String> {
    vec![format!("data: {}\n\n", json!({"text": reply.text()}))]
}

/// The whole answer, not streamed.
pub(crate) fn whole(reply: &Reply) -> Value {
    json!({"text": reply.text()})
}

/// The error event sent mid-stream.
pub(crate) fn error_event() -> String {
    "data: {\"error\":{}}\n\n".to_owned()
}
