//! The server's `error` event.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// What the server reports as wrong: most errors are recoverable and the session goes on.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorDetails {
    /// The error's type, e.g. `invalid_request_error` or `server_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The error's code, e.g. `unknown_parameter` or `conversation_already_has_active_response`.
    pub code: Option<String>,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// The parameter at fault, e.g. `session.foo`.
    pub param: Option<String>,
    /// The `event_id` of the client event that caused it.
    pub event_id: Option<String>,
}

super::server_event! {
    /// `error` (server): something the client sent, or the server, went wrong.
    pub struct ErrorEvent {
        /// The details.
        pub error: ErrorDetails,
    }
}
