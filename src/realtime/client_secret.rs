//! `POST /v1/realtime/client_secrets`: ephemeral keys for browsers and other clients that
//! must not hold the real API key.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::api_key::{ApiKey, AuthScheme};
use super::events::Session;
use crate::Error;

/// Options of [`create_client_secret`].
///
/// ```
/// use vivavoce::realtime::{ClientSecretOptions, Session};
/// let options = ClientSecretOptions::default()
///     .expires_after_seconds(600)
///     .session(Session::default().model("gpt-realtime"));
/// assert_eq!(options.base_url, "https://api.openai.com/v1");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct ClientSecretOptions {
    /// The API key; default `None` reads the environment, as
    /// [`ConnectOptions::api_key`](super::ConnectOptions::api_key) does.
    pub api_key: Option<ApiKey>,
    /// The API's base URL, default `https://api.openai.com/v1`.
    pub base_url: String,
    /// How the key is sent, default [`AuthScheme::Bearer`].
    pub auth: AuthScheme,
    /// Lifetime of the secret, 10 to 7200 s; default `None` (the API's 600 s).
    pub expires_after_seconds: Option<u32>,
    /// The session the secret is for.
    pub session: Session,
    /// Time limit of the whole request, default 30 s.
    pub timeout: Duration,
    /// The HTTP client (proxy, TLS settings, a pool shared with the app). Default `None`:
    /// one shared client.
    pub http_client: Option<reqwest::Client>,
    /// Allow a plain `http://` base URL to another machine. Default `false`: `http://` is
    /// accepted only to this machine (`localhost`, `127.0.0.0/8`, `::1`); any other is
    /// refused before any I/O with [`Error::InvalidOption`] naming the URL, since the real
    /// key would cross the network unencrypted.
    pub allow_insecure: bool,
}

impl Default for ClientSecretOptions {
    fn default() -> Self {
        ClientSecretOptions {
            api_key: None,
            base_url: "https://api.openai.com/v1".to_owned(),
            auth: AuthScheme::Bearer,
            expires_after_seconds: None,
            session: Session::default(),
            timeout: Duration::from_secs(30),
            http_client: None,
            allow_insecure: false,
        }
    }
}

impl ClientSecretOptions {
    /// Sets [`api_key`](Self::api_key).
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets [`base_url`](Self::base_url).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets [`expires_after_seconds`](Self::expires_after_seconds).
    pub fn expires_after_seconds(mut self, seconds: u32) -> Self {
        self.expires_after_seconds = Some(seconds);
        self
    }

    /// Sets [`session`](Self::session).
    pub fn session(mut self, session: Session) -> Self {
        self.session = session;
        self
    }

    /// Sets [`auth`](Self::auth).
    pub fn auth(mut self, auth: AuthScheme) -> Self {
        self.auth = auth;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`http_client`](Self::http_client).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Sets [`allow_insecure`](Self::allow_insecure).
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }
}

/// An ephemeral key and the session it was made for. `Debug` hides the key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientSecret {
    /// The key (`ek_…`); hand it to the client with [`ApiKey::expose_secret`].
    pub value: ApiKey,
    /// Unix time at which the key stops working for new sessions.
    pub expires_at: i64,
    /// The session's configuration.
    pub session: Session,
}

/// Creates an ephemeral client secret.
///
/// Errors: [`Error::MissingApiKey`] before any I/O, [`Error::Http`] with the API's body
/// for a refused request, [`Error::Connect`] or [`Error::Timeout`] when the API is not
/// reached, [`Error::InvalidResponse`] when the answer does not parse.
pub async fn create_client_secret(options: ClientSecretOptions) -> Result<ClientSecret, Error> {
    let key = super::api_key::resolve_key(options.api_key.as_ref(), options.auth)?;
    let url = format!(
        "{}/realtime/client_secrets",
        options.base_url.trim_end_matches('/')
    );
    crate::url_check::check_encrypted(
        &options.base_url,
        options.allow_insecure,
        "base_url",
        "allow_insecure",
    )?;
    let mut body = json!({ "session": options.session });
    if let Some(seconds) = options.expires_after_seconds {
        body["expires_after"] = json!({ "anchor": "created_at", "seconds": seconds });
    }
    let client = match &options.http_client {
        Some(c) => c.clone(),
        None => shared_client().clone(),
    };
    let request = match options.auth {
        AuthScheme::Bearer => client.post(&url).bearer_auth(key.expose_secret()),
        AuthScheme::ApiKeyHeader => client.post(&url).header("api-key", key.expose_secret()),
    };
    let response = request
        .timeout(options.timeout)
        .json(&body)
        .send()
        .await
        .map_err(|e| request_error(e, &url, options.timeout))?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| request_error(e, &url, options.timeout))?;
    if !status.is_success() {
        return Err(Error::http_status(
            status.as_u16(),
            url,
            super::handshake::redact(text, &key),
            Some(&headers),
        ));
    }

    #[derive(Deserialize)]
    struct Answer {
        value: String,
        expires_at: i64,
        session: Session,
    }
    let answer: Answer = serde_json::from_str(&text).map_err(|e| Error::InvalidResponse {
        url: url.clone(),
        message: crate::json_path::describe(&text, &e),
    })?;
    Ok(ClientSecret {
        value: ApiKey::new(answer.value),
        expires_at: answer.expires_at,
        session: answer.session,
    })
}

fn request_error(e: reqwest::Error, url: &str, timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout {
            operation: "client secret request",
            after: timeout,
        }
    } else {
        Error::Connect {
            url: url.to_owned(),
            source: std::sync::Arc::new(e.without_url()),
        }
    }
}

/// One client for every request that brings none: its connection pool and TLS setup are
/// made once.
fn shared_client() -> &'static reqwest::Client {
    crate::http_client::shared()
}
