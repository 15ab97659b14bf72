//! OpenAI-compatible providers, Azure OpenAI, and a named provider + model: a
//! [`ChatConfig`] that becomes [`ChatOptions`].

use std::sync::Arc;

use serde_json::{Map, Value};

use super::options::{ChatAuth, ChatOptions};
use super::wire::Wire;
use crate::Error;

/// Azure OpenAI's default `api-version` (the current GA version of the data plane).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// A way to read environment variables: `std::env::var` in production, a map in tests.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// `std::env::var`, as an [`EnvLookup`].
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// A Chat Completions provider: where it is, which environment variable holds its key,
/// and how the key is sent.
///
/// ```
/// use vivavoce::chat::{AuthStyle, Provider};
/// assert_eq!(Provider::Groq.key_var(), Some("GROQ_API_KEY"));
/// assert_eq!(Provider::Mistral.chat_url(None, "mistral-small-latest"), "https://api.mistral.ai/v1/chat/completions");
/// assert_eq!(Provider::Ollama.auth_style(), AuthStyle::None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI, `OPENAI_API_KEY`.
    OpenAI,
    /// Azure OpenAI, `AZURE_OPENAI_API_KEY`: the model is the deployment's name.
    Azure {
        /// The resource's endpoint, e.g. `https://my-resource.openai.azure.com`.
        endpoint: String,
        /// The `api-version` query parameter, e.g. [`AZURE_API_VERSION`].
        api_version: String,
        /// Send the key as `Authorization: Bearer` (an Entra ID token) rather than in
        /// the `api-key` header.
        bearer: bool,
    },
    /// Mistral, `MISTRAL_API_KEY`.
    Mistral,
    /// OpenRouter, `OPENROUTER_API_KEY`.
    OpenRouter,
    /// DeepSeek, `DEEPSEEK_API_KEY`.
    DeepSeek,
    /// Groq, `GROQ_API_KEY`.
    Groq,
    /// xAI, `XAI_API_KEY`.
    XAi,
    /// A local Ollama server's native API ([`Wire::Ollama`]: `/api/chat`, newline-delimited
    /// JSON), at `http://localhost:11434`; no key. (Its OpenAI-compatible endpoint is
    /// `Custom` with base URL `http://localhost:11434/v1`.)
    Ollama,
    /// Google Gemini, `GEMINI_API_KEY`: its own `streamGenerateContent` API
    /// ([`Wire::Gemini`]), at `https://generativelanguage.googleapis.com/v1beta`.
    Gemini,
    /// OpenAI's Responses API ([`Wire::Responses`]), `OPENAI_API_KEY`, at
    /// `https://api.openai.com/v1/responses`.
    OpenAIResponses,
    /// Anthropic, `ANTHROPIC_API_KEY`: its own Messages API ([`Wire::Anthropic`]), at
    /// `https://api.anthropic.com/v1/messages`.
    Anthropic,
    /// Any other OpenAI-compatible server.
    Custom {
        /// Its base URL, the part before `/chat/completions` (e.g. `http://host/v1`).
        base_url: String,
        /// The environment variable holding its key; `None`: it needs none.
        key_var: Option<String>,
    },
}

/// How a provider takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// The key as is, in a header of this name (Azure's `api-key`).
    Header(&'static str),
    /// No key.
    None,
}

impl Provider {
    /// The providers with a fixed address (all but Azure and `Custom`), in a stable
    /// order.
    pub fn builtin() -> [Provider; 10] {
        [
            Provider::OpenAI,
            Provider::Mistral,
            Provider::OpenRouter,
            Provider::DeepSeek,
            Provider::Groq,
            Provider::XAi,
            Provider::Ollama,
            Provider::Anthropic,
            Provider::Gemini,
            Provider::OpenAIResponses,
        ]
    }

    /// Azure OpenAI at `endpoint`, with the `api-key` header and [`AZURE_API_VERSION`].
    pub fn azure(endpoint: impl Into<String>) -> Provider {
        Provider::Azure {
            endpoint: endpoint.into(),
            api_version: AZURE_API_VERSION.to_owned(),
            bearer: false,
        }
    }

    /// A short lowercase name: `openai`, `azure`, `mistral`, `openrouter`, `deepseek`,
    /// `groq`, `xai`, `ollama`, `anthropic`, `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::OpenAI => "openai",
            Provider::Azure { .. } => "azure",
            Provider::Mistral => "mistral",
            Provider::OpenRouter => "openrouter",
            Provider::DeepSeek => "deepseek",
            Provider::Groq => "groq",
            Provider::XAi => "xai",
            Provider::Ollama => "ollama",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::OpenAIResponses => "openai-responses",
            Provider::Custom { .. } => "custom",
        }
    }

    /// The base URL, before `/chat/completions` (Azure: the endpoint; Anthropic: before
    /// `/messages`).
    pub fn base_url(&self) -> &str {
        match self {
            Provider::OpenAI => "https://api.openai.com/v1",
            Provider::Azure { endpoint, .. } => endpoint,
            Provider::Mistral => "https://api.mistral.ai/v1",
            Provider::OpenRouter => "https://openrouter.ai/api/v1",
            Provider::DeepSeek => "https://api.deepseek.com/v1",
            Provider::Groq => "https://api.groq.com/openai/v1",
            Provider::XAi => "https://api.x.ai/v1",
            Provider::Ollama => "http://localhost:11434",
            Provider::Anthropic => "https://api.anthropic.com/v1",
            Provider::Gemini => "https://generativelanguage.googleapis.com/v1beta",
            Provider::OpenAIResponses => "https://api.openai.com/v1",
            Provider::Custom { base_url, .. } => base_url,
        }
    }

    /// The environment variable that holds the key; `None` for a provider that needs
    /// none (Ollama, a `Custom` without one).
    pub fn key_var(&self) -> Option<&str> {
        match self {
            Provider::OpenAI => Some("OPENAI_API_KEY"),
            Provider::Azure { .. } => Some("AZURE_OPENAI_API_KEY"),
            Provider::Mistral => Some("MISTRAL_API_KEY"),
            Provider::OpenRouter => Some("OPENROUTER_API_KEY"),
            Provider::DeepSeek => Some("DEEPSEEK_API_KEY"),
            Provider::Groq => Some("GROQ_API_KEY"),
            Provider::XAi => Some("XAI_API_KEY"),
            Provider::Ollama => None,
            Provider::Anthropic => Some("ANTHROPIC_API_KEY"),
            Provider::Gemini => Some("GEMINI_API_KEY"),
            Provider::OpenAIResponses => Some("OPENAI_API_KEY"),
            Provider::Custom { key_var, .. } => key_var.as_deref(),
        }
    }

    /// A model to start with, for [`ChatRouter::quick_setup`](super::ChatRouter::quick_setup)
    /// (`None` for Azure, whose deployment is yours, and `Custom`).
    pub fn default_model(&self) -> Option<&'static str> {
        match self {
            Provider::OpenAI => Some("gpt-4o-mini"),
            Provider::Mistral => Some("mistral-small-latest"),
            Provider::OpenRouter => Some("openai/gpt-4o-mini"),
            Provider::DeepSeek => Some("deepseek-chat"),
            Provider::Groq => Some("llama-3.3-70b-versatile"),
            Provider::XAi => Some("grok-3-mini"),
            Provider::Ollama => Some("llama3.2"),
            Provider::Anthropic => Some("claude-sonnet-4-5"),
            Provider::Gemini => Some("gemini-2.5-flash"),
            Provider::OpenAIResponses => Some("gpt-4o-mini"),
            Provider::Azure { .. } | Provider::Custom { .. } => None,
        }
    }

    /// The wire format it speaks: Anthropic's, Gemini's, Ollama's and the Responses API
    /// their own, the rest OpenAI's Chat Completions.
    pub fn wire(&self) -> Wire {
        match self {
            Provider::Anthropic => Wire::Anthropic,
            Provider::Gemini => Wire::Gemini,
            Provider::Ollama => Wire::Ollama,
            Provider::OpenAIResponses => Wire::Responses,
            _ => Wire::OpenAI,
        }
    }

    /// How the key is sent.
    pub fn auth_style(&self) -> AuthStyle {
        match self {
            Provider::Azure { bearer: false, .. } => AuthStyle::Header("api-key"),
            Provider::Anthropic => AuthStyle::Header("x-api-key"),
            Provider::Gemini => AuthStyle::Header("x-goog-api-key"),
            Provider::Ollama | Provider::Custom { key_var: None, .. } => AuthStyle::None,
            _ => AuthStyle::Bearer,
        }
    }

    /// The Chat Completions URL for `model` (for Azure, the deployment), from `base_url`
    /// or the provider's own. Azure:
    /// `{endpoint}/openai/deployments/{model}/chat/completions?api-version=…`; Anthropic:
    /// `{base}/messages`; Ollama: `{base}/api/chat`; the Responses API: `{base}/responses`;
    /// Gemini: the API root itself (the engine adds `/models/{model}:…`).
    pub fn chat_url(&self, base_url: Option<&str>, model: &str) -> String {
        let base = base_url.unwrap_or(self.base_url()).trim_end_matches('/');
        match self {
            Provider::Azure { api_version, .. } => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                encode(model),
                encode(api_version)
            ),
            Provider::Anthropic => format!("{base}/messages"),
            // The API root: the model's method is added per request.
            Provider::Gemini => base.to_owned(),
            Provider::Ollama => format!("{base}/api/chat"),
            Provider::OpenAIResponses => format!("{base}/responses"),
            _ => format!("{base}/chat/completions"),
        }
    }

    /// Options for `model` with `messages`, the key read from the provider's environment
    /// variable.
    ///
    /// # Errors
    ///
    /// [`Error::MissingProviderKey`] naming the variable when it is not set.
    pub fn options(&self, model: &str, messages: Vec<Value>) -> Result<ChatOptions, Error> {
        ChatConfig::new(self.clone(), model).options(messages, &process_env())
    }
}

/// Percent-encodes what is not unreserved, for a path segment or a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a config's key comes from.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// The provider's own environment variable ([`Provider::key_var`]). The default.
    #[default]
    ProviderEnv,
    /// This environment variable.
    Env(String),
    /// This key.
    Key(String),
    /// No key (a local server).
    None,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::ProviderEnv => f.write_str("ProviderEnv"),
            KeySource::Env(var) => write!(f, "Env({var:?})"),
            // Never the key itself.
            KeySource::Key(_) => f.write_str("Key(<redacted>)"),
            KeySource::None => f.write_str("None"),
        }
    }
}

/// A provider and a model, with where the key comes from, another base URL if any, and
/// default body fields: what a [`ChatRouter`](super::ChatRouter) holds under a name.
///
/// ```
/// use serde_json::json;
/// use vivavoce::chat::{ChatConfig, Provider};
/// let config = ChatConfig::new(Provider::Groq, "llama-3.3-70b-versatile").param("temperature", json!(0.3));
/// assert_eq!(config.model, "llama-3.3-70b-versatile");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct ChatConfig {
    /// The provider.
    pub provider: Provider,
    /// The model (for Azure, the deployment).
    pub model: String,
    /// Where the key comes from.
    pub key: KeySource,
    /// Another base URL than the provider's (a proxy, a local server on another port).
    pub base_url: Option<String>,
    /// Body fields added to every request (temperature, max_tokens, …).
    pub params: Map<String, Value>,
    /// Allow a plain `http://` base URL to another machine (see
    /// [`ChatOptions`]'s `allow_insecure`). Default `false`: `http://` only to this
    /// machine, as the built-in Ollama address is.
    pub allow_insecure: bool,
}

impl ChatConfig {
    /// `model` at `provider`, the key from the provider's environment variable.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        ChatConfig {
            provider,
            model: model.into(),
            key: KeySource::default(),
            base_url: None,
            params: Map::new(),
            allow_insecure: false,
        }
    }

    /// Sets where the key comes from.
    pub fn key(mut self, key: KeySource) -> Self {
        self.key = key;
        self
    }

    /// Sets the key itself.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = KeySource::Key(key.into());
        self
    }

    /// Sets another base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets [`allow_insecure`](Self::allow_insecure).
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// Adds a default body field.
    pub fn param(mut self, key: impl Into<String>, value: Value) -> Self {
        self.params.insert(key.into(), value);
        self
    }

    /// The key, found through `env`; `Ok(None)` when none is needed.
    ///
    /// # Errors
    ///
    /// [`Error::MissingProviderKey`] naming the variable to set.
    pub fn resolve_key(&self, env: &EnvLookup) -> Result<Option<String>, Error> {
        let var = match &self.key {
            KeySource::Key(k) if !k.is_empty() => return Ok(Some(k.clone())),
            KeySource::Key(_) => None,
            KeySource::None => return Ok(None),
            KeySource::Env(var) => Some(var.as_str()),
            KeySource::ProviderEnv => match self.provider.key_var() {
                Some(var) => Some(var),
                None => return Ok(None),
            },
        };
        let missing = || Error::MissingProviderKey {
            provider: self.provider.name().to_owned(),
            var: var.unwrap_or("a key").to_owned(),
        };
        let var = var.ok_or_else(missing)?;
        env(var)
            .filter(|k| !k.is_empty())
            .map(Some)
            .ok_or_else(missing)
    }

    /// The request options for `messages`: URL, model, key (through `env`) and the
    /// default body fields.
    ///
    /// # Errors
    ///
    /// [`Error::MissingProviderKey`] naming the variable to set.
    pub fn options(&self, messages: Vec<Value>, env: &EnvLookup) -> Result<ChatOptions, Error> {
        let key = self.resolve_key(env)?;
        let auth = match (key, self.provider.auth_style()) {
            (Some(key), AuthStyle::Header(name)) => ChatAuth::KeyHeader {
                name: name.to_owned(),
                key,
            },
            (Some(key), _) => ChatAuth::ApiKey(key),
            // The engine always sends a key; a server that needs none ignores it (what
            // Ollama's own documentation passes).
            (None, _) if self.provider.wire() == Wire::Ollama => ChatAuth::FromEnv,
            (None, _) => ChatAuth::ApiKey(self.provider.name().to_owned()),
        };
        let mut options = ChatOptions::new(self.model.clone(), messages)
            .url(
                self.provider
                    .chat_url(self.base_url.as_deref(), &self.model),
            )
            .auth(auth);
        options.wire = self.provider.wire();
        options.allow_insecure = self.allow_insecure;
        for (k, v) in &self.params {
            options = options.param(k.clone(), v.clone());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Arc::new(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn every_builtin_has_a_url_and_a_key_variable_but_ollama() {
        for p in Provider::builtin() {
            let path = match p.wire() {
                Wire::Anthropic => "/v1/messages",
                Wire::Gemini => "/v1beta",
                Wire::Ollama => ":11434/api/chat",
                Wire::Responses => "/v1/responses",
                _ => "/v1/chat/completions",
            };
            assert!(p.chat_url(None, "m").ends_with(path), "{p:?}");
            assert_eq!(p.key_var().is_none(), p == Provider::Ollama, "{p:?}");
        }
        assert_eq!(
            Provider::Ollama.chat_url(None, "llama3.2"),
            "http://localhost:11434/api/chat"
        );
    }

    #[test]
    fn azure_uses_the_deployment_url_and_the_api_key_header() {
        let azure = Provider::azure("https://r.openai.azure.com/");
        let config = ChatConfig::new(azure, "my gpt");
        let o = config
            .options(vec![], &env(&[("AZURE_OPENAI_API_KEY", "az-secret")]))
            .unwrap();
        assert_eq!(
            o.url,
            "https://r.openai.azure.com/openai/deployments/my%20gpt/chat/completions?api-version=2024-10-21"
        );
        assert!(
            matches!(&o.auth, ChatAuth::KeyHeader { name, key } if name == "api-key" && key == "az-secret")
        );
        assert!(!format!("{o:?}").contains("az-secret"));
        let bearer = Provider::Azure {
            endpoint: "https://r".into(),
            api_version: "v".into(),
            bearer: true,
        };
        let o = ChatConfig::new(bearer, "d")
            .api_key("tok")
            .options(vec![], &env(&[]))
            .unwrap();
        assert!(matches!(o.auth, ChatAuth::ApiKey(_)));
    }

    #[test]
    fn anthropic_speaks_its_own_wire_with_the_x_api_key_header() {
        let o = ChatConfig::new(Provider::Anthropic, "claude-sonnet-4-5")
            .options(vec![], &env(&[("ANTHROPIC_API_KEY", "sk-ant-secret")]))
            .unwrap();
        assert_eq!(o.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(o.wire, Wire::Anthropic);
        assert!(
            matches!(&o.auth, ChatAuth::KeyHeader { name, key } if name == "x-api-key" && key == "sk-ant-secret")
        );
        assert!(!format!("{o:?}").contains("sk-ant-secret"));
        let e = ChatConfig::new(Provider::Anthropic, "m")
            .options(vec![], &env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
    }

    #[test]
    fn a_missing_key_names_its_variable_and_is_never_shown() {
        let e = ChatConfig::new(Provider::Mistral, "m")
            .options(vec![], &env(&[("MISTRAL_API_KEY", "")]))
            .unwrap_err();
        assert!(e.to_string().contains("MISTRAL_API_KEY"), "{e}");
        let custom = Provider::Custom {
            base_url: "http://h/v1".into(),
            key_var: Some("MY_KEY".into()),
        };
        let e = ChatConfig::new(custom, "m")
            .options(vec![], &env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("MY_KEY"), "{e}");
        let c = ChatConfig::new(Provider::Groq, "m").api_key("gsk-secret");
        assert!(!format!("{c:?}").contains("gsk-secret"));
    }
}
