//! PLACEHOLDER: the responses request body (to be written).

use serde_json::{Map, Value, json};

/// The request body.
pub(crate) fn body(
    model: &str,
    messages: &[Value],
    stream: bool,
    params: &Map<String, Value>,
) -> Value {
    let _ = params;
    json!({"model": model, "messages": messages, "stream": stream})
}
