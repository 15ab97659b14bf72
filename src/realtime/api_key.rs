//! The key a session authenticates with, and how it is sent.

use std::fmt;

use crate::Error;

/// An API key (or an ephemeral client secret). Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for handing an ephemeral secret to a browser. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        ApiKey::new(s)
    }
}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        ApiKey::new(s)
    }
}

/// How the API key is sent in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer KEY` (OpenAI, most proxies). The default.
    #[default]
    Bearer,
    /// `api-key: KEY` (Azure OpenAI).
    ApiKeyHeader,
}

/// The given key, else the environment's (`OPENAI_API_KEY`, and for
/// [`AuthScheme::ApiKeyHeader`] first `AZURE_OPENAI_API_KEY`).
pub(crate) fn resolve_key(key: Option<&ApiKey>, auth: AuthScheme) -> Result<ApiKey, Error> {
    if let Some(key) = key {
        return Ok(key.clone());
    }
    let vars: &[&str] = match auth {
        AuthScheme::Bearer => &["OPENAI_API_KEY"],
        AuthScheme::ApiKeyHeader => &["AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"],
    };
    vars.iter()
        .find_map(|v| std::env::var(v).ok().filter(|k| !k.trim().is_empty()))
        .map(ApiKey::new)
        .ok_or(Error::MissingApiKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_redacted() {
        let k = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
    }
}
