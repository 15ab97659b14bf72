//! Which wire format a chat request speaks, and the constants of Anthropic's.

/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` when the request does not set it (the Messages API requires one).
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 1024;

/// The wire format a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI Chat Completions (and every compatible server). The default.
    #[default]
    OpenAI,
    /// Anthropic Messages: `POST {base}/messages` with `x-api-key` and
    /// `anthropic-version`, system messages in a top-level `system`, and its own stream
    /// events, normalised to the same deltas.
    Anthropic,
}
