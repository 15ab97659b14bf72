//! A router: named [`ChatConfig`]s, a request sent to one of them or down a list, with
//! retries and fallback before the first content.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::options::ChatOptions;
use super::providers::{AZURE_API_VERSION, ChatConfig, EnvLookup, Provider, process_env};
use super::retry::{RetryPolicy, fallback_on, stream_candidates};
use super::stream::ChatStream;
use crate::Error;

/// The configs a request may go to, in order: one name, or a list to fall back along.
///
/// ```
/// use vivavoce::chat::Route;
/// assert_eq!(Route::from("fast").names(), ["fast"]);
/// assert_eq!(Route::from(["fast", "local"]).names(), ["fast", "local"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(Vec<String>);

impl Route {
    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

impl From<&str> for Route {
    fn from(name: &str) -> Self {
        Route(vec![name.to_owned()])
    }
}

impl From<String> for Route {
    fn from(name: String) -> Self {
        Route(vec![name])
    }
}

impl From<&[&str]> for Route {
    fn from(names: &[&str]) -> Self {
        Route(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Route {
    fn from(names: [&str; N]) -> Self {
        Route(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

impl From<Vec<String>> for Route {
    fn from(names: Vec<String>) -> Self {
        Route(names)
    }
}

impl From<Vec<&str>> for Route {
    fn from(names: Vec<&str>) -> Self {
        names.as_slice().into()
    }
}

/// Named chat configs, and requests routed to them.
///
/// [`stream`](Self::stream) sends a request to a config, or down a list of them: each
/// config is retried per the [`RetryPolicy`], and when it still fails, **before any
/// content was delivered**, with an error worth another try (retryable, or an exhausted
/// quota), the next config is tried. Once content has been delivered an error is final
/// (see [`RetryPolicy`]), so no text comes twice.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use vivavoce::chat::{message, ChatConfig, ChatEvent, ChatRouter, Provider};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let mut router = ChatRouter::quick_setup();
/// router.register("local", ChatConfig::new(Provider::Ollama, "qwen2.5"));
/// let mut events = router.stream(["groq", "openai", "local"], vec![message::user("Hi")])?;
/// while let Some(event) = events.next().await {
///     if let ChatEvent::Chunk(c) = &event {
///         print!("{}", c.text().unwrap_or_default());
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ChatRouter {
    configs: BTreeMap<String, ChatConfig>,
    policy: RetryPolicy,
    env: EnvLookup,
    adjust: Option<Adjust>,
}

/// A change made to every request's options.
type Adjust = Arc<dyn Fn(ChatOptions) -> ChatOptions + Send + Sync>;

impl std::fmt::Debug for ChatRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRouter")
            .field("configs", &self.configs)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for ChatRouter {
    fn default() -> Self {
        ChatRouter::new()
    }
}

impl ChatRouter {
    /// No configs; keys read from the process's environment; the default retry policy.
    pub fn new() -> Self {
        ChatRouter::with_env(process_env())
    }

    /// No configs; keys (and, for [`quick_setup_with`](Self::quick_setup_with), which
    /// providers are there) read through `env`.
    pub fn with_env(env: EnvLookup) -> Self {
        ChatRouter {
            configs: BTreeMap::new(),
            policy: RetryPolicy::default(),
            env,
            adjust: None,
        }
    }

    /// A config for each provider whose key variable is set, under the provider's
    /// [`name`](Provider::name) and with its [`default_model`](Provider::default_model);
    /// `ollama` always. Azure when `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT` and
    /// `AZURE_OPENAI_DEPLOYMENT` are set (`AZURE_OPENAI_API_VERSION` optional).
    pub fn quick_setup() -> Self {
        ChatRouter::quick_setup_with(process_env())
    }

    /// [`quick_setup`](Self::quick_setup) with the environment read through `env`.
    pub fn quick_setup_with(env: EnvLookup) -> Self {
        let set = |var: &str| env(var).filter(|v| !v.is_empty());
        let mut router = ChatRouter::with_env(env.clone());
        for provider in Provider::builtin() {
            let present = provider.key_var().is_none_or(|var| set(var).is_some());
            if let (true, Some(model)) = (present, provider.default_model()) {
                router.register(provider.name(), ChatConfig::new(provider, model));
            }
        }
        if let (Some(_), Some(endpoint), Some(deployment)) = (
            set("AZURE_OPENAI_API_KEY"),
            set("AZURE_OPENAI_ENDPOINT"),
            set("AZURE_OPENAI_DEPLOYMENT"),
        ) {
            let provider = Provider::Azure {
                endpoint,
                api_version: set("AZURE_OPENAI_API_VERSION")
                    .unwrap_or_else(|| AZURE_API_VERSION.to_owned()),
                bearer: false,
            };
            router.register("azure", ChatConfig::new(provider, deployment));
        }
        router
    }

    /// Sets the retry policy (for each config of a route).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Changes every request's options before it is sent: timeouts, your own HTTP
    /// client, usage, headers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vivavoce::chat::ChatRouter;
    /// let router = ChatRouter::new().adjust(|o| o.http_timeout(Duration::from_secs(60)).include_usage(true));
    /// # drop(router);
    /// ```
    pub fn adjust(
        mut self,
        f: impl Fn(ChatOptions) -> ChatOptions + Send + Sync + 'static,
    ) -> Self {
        self.adjust = Some(Arc::new(f));
        self
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Registers `config` under `name`; returns the config it replaces, if any.
    pub fn register(&mut self, name: impl Into<String>, config: ChatConfig) -> Option<ChatConfig> {
        self.configs.insert(name.into(), config)
    }

    /// Removes and returns the config named `name`.
    pub fn remove(&mut self, name: &str) -> Option<ChatConfig> {
        self.configs.remove(name)
    }

    /// The config named `name`.
    pub fn get(&self, name: &str) -> Option<&ChatConfig> {
        self.configs.get(name)
    }

    /// The names, sorted.
    pub fn list(&self) -> Vec<&str> {
        self.configs.keys().map(String::as_str).collect()
    }

    fn config(&self, name: &str) -> Result<&ChatConfig, Error> {
        self.configs.get(name).ok_or_else(|| Error::UnknownConfig {
            name: name.to_owned(),
            known: self.configs.keys().cloned().collect(),
        })
    }

    /// The options of a request to the config named `name` (to change more before
    /// sending it yourself).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownConfig`] listing the known names; [`Error::MissingProviderKey`]
    /// naming the variable to set.
    pub fn options(&self, name: &str, messages: Vec<Value>) -> Result<ChatOptions, Error> {
        let options = self.config(name)?.options(messages, &self.env)?;
        Ok(match &self.adjust {
            Some(f) => f(options),
            None => options,
        })
    }

    /// Sends `messages` along `route` (a name, or names to fall back along) and returns
    /// the events of the request that answers, as [`stream`](super::stream()) does:
    /// chunks (raw fields included), then one `Complete` or `Error`. Events of attempts
    /// that failed before any content are not delivered. [`ChatStream::stop`] or
    /// dropping the stream stops it, between attempts too.
    ///
    /// # Errors
    ///
    /// Before any I/O: [`Error::UnknownConfig`] for a name not registered (listing the
    /// known ones); [`Error::InvalidOption`] for an empty route; when no config of the
    /// route can be used, the first one's error ([`Error::MissingProviderKey`] naming the
    /// variable, …) — configs that can be used are tried, the others skipped;
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn stream(
        &self,
        route: impl Into<Route>,
        messages: Vec<Value>,
    ) -> Result<ChatStream, Error> {
        let route = route.into();
        if route.0.is_empty() {
            return Err(Error::InvalidOption {
                option: "route",
                message: "name at least one config".to_owned(),
            });
        }
        for name in &route.0 {
            self.config(name)?;
        }
        let mut first_error = None;
        let mut candidates = Vec::with_capacity(route.0.len());
        for name in &route.0 {
            match self.options(name, messages.clone()) {
                Ok(options) => candidates.push(options),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (candidates.is_empty(), first_error) {
            (true, Some(e)) => Err(e),
            _ => stream_candidates(candidates, self.policy.clone(), fallback_on),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> EnvLookup {
        Arc::new(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn quick_setup_registers_providers_with_keys_and_ollama() {
        let router = ChatRouter::quick_setup_with(env(&[
            ("GROQ_API_KEY", "gsk"),
            ("MISTRAL_API_KEY", ""),
            ("AZURE_OPENAI_API_KEY", "az"),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt4o"),
        ]));
        assert_eq!(router.list(), ["azure", "groq", "ollama"]);
        let o = router.options("azure", vec![]).unwrap();
        assert!(o.url.contains("/openai/deployments/gpt4o/"), "{}", o.url);
        assert_eq!(ChatRouter::quick_setup_with(env(&[])).list(), ["ollama"]);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let mut router = ChatRouter::with_env(env(&[]));
        router.register("b", ChatConfig::new(Provider::Ollama, "m"));
        router.register("a", ChatConfig::new(Provider::Ollama, "m"));
        let e = router.options("c", vec![]).unwrap_err();
        assert_eq!(e.to_string(), "no chat config named `c`; known: a, b");
        assert!(router.remove("a").is_some());
        assert!(router.get("a").is_none());
        let e = router.stream(Vec::<String>::new(), vec![]).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidOption {
                option: "route",
                ..
            }
        ));
    }
}
