//! Chat messages as the API takes them: `{"role": …, "content": …}`.
//!
//! ```
//! use vivavoce::chat::message;
//! let history = vec![message::system("Be brief."), message::user("Hi")];
//! assert_eq!(history[1], serde_json::json!({"role": "user", "content": "Hi"}));
//! ```

use serde_json::{Value, json};

/// `{"role": "system", "content": text}`.
pub fn system(text: impl Into<String>) -> Value {
    json!({ "role": "system", "content": text.into() })
}

/// `{"role": "user", "content": text}`.
pub fn user(text: impl Into<String>) -> Value {
    json!({ "role": "user", "content": text.into() })
}

/// `{"role": "assistant", "content": text}`.
pub fn assistant(text: impl Into<String>) -> Value {
    json!({ "role": "assistant", "content": text.into() })
}

/// `{"role": "tool", "tool_call_id": call_id, "content": content}`: a tool call's result.
pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Value {
    json!({ "role": "tool", "tool_call_id": call_id.into(), "content": content.into() })
}

/// The same builders named by the type, for code that reads `Message::user("…")`:
///
/// ```
/// use vivavoce::chat::Message;
/// let history = vec![Message::system("Be brief."), Message::user("Hi")];
/// assert_eq!(history[0]["role"], "system");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Message;

impl Message {
    /// See [`system`].
    pub fn system(text: impl Into<String>) -> Value {
        system(text)
    }

    /// See [`user`].
    pub fn user(text: impl Into<String>) -> Value {
        user(text)
    }

    /// See [`assistant`].
    pub fn assistant(text: impl Into<String>) -> Value {
        assistant(text)
    }

    /// See [`tool`].
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Value {
        tool(call_id, content)
    }
}
