//! Options of [`connect`](super::connect).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::reconnect_policy::ReconnectPolicy;

use super::api_key::{ApiKey, AuthScheme, resolve_key};
use super::events::{ClientEvent, ServerEvent};
use crate::Error;

/// A hook run on each outgoing event before it is serialised; `None` drops the event.
pub type OutgoingHook = Arc<dyn Fn(ClientEvent) -> Option<ClientEvent> + Send + Sync>;

/// A hook run on each incoming event before it is delivered; `None` drops the event.
pub type IncomingHook = Arc<dyn Fn(ServerEvent) -> Option<ServerEvent> + Send + Sync>;

/// What to do before a reconnect attempt, from
/// [`ConnectOptions::on_reconnecting`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reconnecting {
    /// Try again with the same key.
    Continue,
    /// Try again with this key from now on (a fresh ephemeral key, a rotated one).
    WithKey(ApiKey),
    /// Give up: the receiver ends with a final `Disconnected`.
    Abort,
}

/// A hook run before each reconnect attempt with the attempt's number (1 for the first)
/// and the error that lost the connection. It runs on the connection's task: it must not
/// block.
pub type ReconnectHook = Arc<dyn Fn(u32, &Error) -> Reconnecting + Send + Sync>;

/// Checks events against a contract, e.g. `schema::Validator` (feature `schema`): an
/// outgoing event that fails is not sent (`send` returns the error); an
/// incoming one that fails is delivered anyway, after a [`Warning`] event.
///
/// [`Warning`]: crate::realtime::events::Warning
pub trait EventCheck: Send + Sync {
    /// Checks an outgoing event, given its type and JSON text.
    fn outgoing(&self, event_type: &str, json: &str) -> Result<(), Error>;
    /// Checks an incoming event; a `Some` warning is delivered just before it.
    fn incoming(&self, event: &ServerEvent) -> Option<crate::realtime::events::Warning>;
}

/// Options of [`connect`](super::connect). Build them from [`Default`] with the
/// chainable setters; every default is given on its field.
///
/// ```
/// use std::time::Duration;
/// use vivavoce::realtime::{ConnectOptions, ReconnectPolicy};
///
/// let options = ConnectOptions::default()
///     .api_key("sk-example")
///     .model("gpt-realtime")
///     .ping_interval(Some(Duration::from_secs(15)))
///     .reconnect(Some(ReconnectPolicy::default()));
/// assert_eq!(options.url(), "wss://api.openai.com/v1/realtime?model=gpt-realtime");
/// // The key never shows in Debug output.
/// assert!(!format!("{options:?}").contains("sk-example"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
#[must_use]
pub struct ConnectOptions {
    /// The API key. Default: `None`, which reads `OPENAI_API_KEY` (or, with
    /// [`AuthScheme::ApiKeyHeader`], `AZURE_OPENAI_API_KEY`); neither set →
    /// [`Error::MissingApiKey`] before any I/O.
    pub api_key: Option<ApiKey>,
    /// The model. Default `gpt-realtime`.
    pub model: String,
    /// The endpoint, to which `?model=…` (or `?call_id=…`) is added. Default
    /// `wss://api.openai.com/v1/realtime`. A query already present is kept.
    pub base_url: String,
    /// A complete URL used as it is, with nothing added. Default `None`.
    pub url: Option<String>,
    /// Join an existing call (WebRTC or SIP) as a sideband connection instead of starting a
    /// session with `model`. Default `None`.
    pub call_id: Option<String>,
    /// How the key is sent. Default [`AuthScheme::Bearer`].
    pub auth: AuthScheme,
    /// Extra handshake headers. Default none.
    pub headers: Vec<(String, String)>,
    /// Capacity of the outgoing event channel, in events (default 64). When it is full,
    /// `send` waits.
    pub send_capacity: usize,
    /// Capacity of the incoming event queue, in events (default 256). When it is full,
    /// the connection stops reading from the socket until the receiver catches up (the
    /// server then sees TCP backpressure); sending, pings and closing go on.
    pub receive_capacity: usize,
    /// Capacity of the incoming event queue, in bytes of event JSON (plus each event's
    /// in-memory size), default 64 KiB: about 10 audio deltas of 100 ms, 1 s of audio.
    /// Full works as for [`receive_capacity`](Self::receive_capacity); whichever bound is
    /// reached first applies. Events are read in batches (what the socket has ready, up
    /// to a quarter of this) and a batch that alone exceeds the bound is still delivered
    /// when the queue is empty, so one large event never stalls the connection. Must be
    /// at least 1.
    pub receive_queue_bytes: usize,
    /// Most bytes of events accepted but not yet written, e.g. while reconnecting
    /// (default 16 MiB). Past it, `send` fails with [`Error::SendQueueFull`].
    pub send_queue_bytes: usize,
    /// How often to ping the server. Default `Some(20 s)`; `None` never pings. Must be
    /// above zero; any larger value works (up to `Duration::MAX`, which never pings).
    pub ping_interval: Option<Duration>,
    /// How long to wait for any frame after a ping before the connection is declared dead.
    /// Default 10 s. Must be above zero.
    pub pong_timeout: Duration,
    /// Time limit of the TCP, TLS and WebSocket handshake. Default 15 s. Must be above
    /// zero.
    pub connect_timeout: Duration,
    /// How long to wait for the server's close frame after ours. Default 5 s; zero does
    /// not wait.
    pub close_timeout: Duration,
    /// Largest message (an event's JSON text, whole after its fragments are joined) and
    /// largest single frame accepted from the server, in bytes. Default 16 MiB: the
    /// largest events the API documents carry a whole item's audio
    /// (`conversation.item.retrieved`: about two minutes of 24 kHz PCM16 as base64 fit).
    /// A bigger frame is refused from its header, before its payload is read, and a
    /// message is refused as soon as its fragments pass the limit: the connection is then
    /// closed with code 1009 and lost with an [`Error::Transport`] that gives the size and
    /// the limit. Must be at least 1 KiB. Control frames are 125 bytes at most (RFC 6455).
    pub max_message_bytes: usize,
    /// Allow a plain `ws://` URL to another machine. Default `false`: a `ws://` URL is
    /// accepted only to this machine (`localhost`, `127.0.0.0/8`, `::1`), as the
    /// simulators use, because the key would otherwise cross the network unencrypted; any
    /// other is refused before any I/O with [`Error::InvalidOption`] naming the URL.
    /// `wss://` (TLS with rustls and Mozilla's root certificates; the system's too with
    /// the feature `native-roots`) is always accepted, if the `tls` feature (a default
    /// one) is on.
    pub allow_insecure: bool,
    /// Reconnect after a recoverable loss. Default `None`: a loss ends the receiver.
    pub reconnect: Option<ReconnectPolicy>,
    /// Run on each outgoing event. Default `None`.
    pub outgoing: Option<OutgoingHook>,
    /// Run on each incoming event. Default `None`.
    pub incoming: Option<IncomingHook>,
    /// Checks each event both ways (after the hooks). Default `None`.
    pub check: Option<Arc<dyn EventCheck>>,
    /// Run before each reconnect attempt: go on, go on with a new key, or give up. Default
    /// `None` (go on with the same key; a refused handshake, such as a 401, ends
    /// reconnecting at once). With a hook, a refused handshake is the next call's error
    /// and the hook decides.
    pub on_reconnecting: Option<ReconnectHook>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            api_key: None,
            model: "gpt-realtime".to_owned(),
            base_url: "wss://api.openai.com/v1/realtime".to_owned(),
            url: None,
            call_id: None,
            auth: AuthScheme::Bearer,
            headers: Vec::new(),
            send_capacity: 64,
            receive_capacity: 256,
            receive_queue_bytes: 64 << 10,
            send_queue_bytes: 16 << 20,
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            close_timeout: Duration::from_secs(5),
            max_message_bytes: 16 << 20,
            allow_insecure: false,
            reconnect: None,
            outgoing: None,
            incoming: None,
            check: None,
            on_reconnecting: None,
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("api_key", &self.api_key)
            .field("url", &self.url())
            .field("call_id", &self.call_id)
            .field("auth", &self.auth)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("send_capacity", &self.send_capacity)
            .field("receive_capacity", &self.receive_capacity)
            .field("receive_queue_bytes", &self.receive_queue_bytes)
            .field("send_queue_bytes", &self.send_queue_bytes)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("allow_insecure", &self.allow_insecure)
            .field("reconnect", &self.reconnect)
            .field("outgoing", &self.outgoing.as_ref().map(|_| "hook"))
            .field("incoming", &self.incoming.as_ref().map(|_| "hook"))
            .field("check", &self.check.as_ref().map(|_| "check"))
            .field(
                "on_reconnecting",
                &self.on_reconnecting.as_ref().map(|_| "hook"),
            )
            .finish()
    }
}

impl ConnectOptions {
    /// Options for Azure OpenAI: `endpoint` is `https://RESOURCE.openai.azure.com`, the
    /// model is the deployment's name, and the key goes in the `api-key` header.
    pub fn azure(endpoint: &str, deployment: &str) -> Self {
        let endpoint = endpoint.trim_end_matches('/');
        let ws = if let Some(rest) = endpoint.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = endpoint.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            endpoint.to_owned()
        };
        ConnectOptions {
            base_url: format!("{ws}/openai/v1/realtime"),
            model: deployment.to_owned(),
            auth: AuthScheme::ApiKeyHeader,
            ..ConnectOptions::default()
        }
    }

    /// Sets [`api_key`](Self::api_key).
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets [`model`](Self::model).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sets [`base_url`](Self::base_url).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets [`url`](Self::url): a complete URL used as it is.
    pub fn exact_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets [`call_id`](Self::call_id).
    pub fn call_id(mut self, call_id: impl Into<String>) -> Self {
        self.call_id = Some(call_id.into());
        self
    }

    /// Sets [`auth`](Self::auth).
    pub fn auth(mut self, auth: AuthScheme) -> Self {
        self.auth = auth;
        self
    }

    /// Adds a handshake header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`send_capacity`](Self::send_capacity).
    pub fn send_capacity(mut self, n: usize) -> Self {
        self.send_capacity = n;
        self
    }

    /// Sets [`receive_capacity`](Self::receive_capacity).
    pub fn receive_capacity(mut self, n: usize) -> Self {
        self.receive_capacity = n;
        self
    }

    /// Sets [`receive_queue_bytes`](Self::receive_queue_bytes).
    pub fn receive_queue_bytes(mut self, n: usize) -> Self {
        self.receive_queue_bytes = n;
        self
    }

    /// Sets [`send_queue_bytes`](Self::send_queue_bytes).
    pub fn send_queue_bytes(mut self, n: usize) -> Self {
        self.send_queue_bytes = n;
        self
    }

    /// Sets [`ping_interval`](Self::ping_interval).
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Sets [`pong_timeout`](Self::pong_timeout).
    pub fn pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }

    /// Sets [`max_message_bytes`](Self::max_message_bytes).
    pub fn max_message_bytes(mut self, n: usize) -> Self {
        self.max_message_bytes = n;
        self
    }

    /// Sets [`allow_insecure`](Self::allow_insecure).
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// Sets [`check`](Self::check): e.g. `.check(Arc::new(schema::Validator::shared()?))`.
    pub fn check(mut self, check: Arc<dyn EventCheck>) -> Self {
        self.check = Some(check);
        self
    }

    /// Sets [`reconnect`](Self::reconnect).
    pub fn reconnect(mut self, policy: Option<ReconnectPolicy>) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets [`outgoing`](Self::outgoing).
    pub fn on_outgoing(
        mut self,
        hook: impl Fn(ClientEvent) -> Option<ClientEvent> + Send + Sync + 'static,
    ) -> Self {
        self.outgoing = Some(Arc::new(hook));
        self
    }

    /// Sets [`incoming`](Self::incoming).
    pub fn on_incoming(
        mut self,
        hook: impl Fn(ServerEvent) -> Option<ServerEvent> + Send + Sync + 'static,
    ) -> Self {
        self.incoming = Some(Arc::new(hook));
        self
    }

    /// Sets [`on_reconnecting`](Self::on_reconnecting): e.g. a new ephemeral key for each
    /// attempt, or giving up on an error the app knows is final.
    ///
    /// ```
    /// use vivavoce::realtime::{ConnectOptions, ReconnectPolicy, Reconnecting};
    /// let options = ConnectOptions::default()
    ///     .reconnect(Some(ReconnectPolicy::default()))
    ///     .on_reconnecting(|attempt, _error| {
    ///         if attempt > 3 { Reconnecting::Abort } else { Reconnecting::Continue }
    ///     });
    /// # let _ = options;
    /// ```
    pub fn on_reconnecting(
        mut self,
        hook: impl Fn(u32, &Error) -> Reconnecting + Send + Sync + 'static,
    ) -> Self {
        self.on_reconnecting = Some(Arc::new(hook));
        self
    }

    /// The URL the handshake goes to.
    pub fn url(&self) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        match &self.call_id {
            Some(id) => format!("{}{sep}call_id={}", self.base_url, encode_query(id)),
            None => format!("{}{sep}model={}", self.base_url, encode_query(&self.model)),
        }
    }

    /// The key from the options or the environment.
    pub(crate) fn resolve_key(&self) -> Result<ApiKey, Error> {
        resolve_key(self.api_key.as_ref(), self.auth)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |option, message: &str| {
            Err(Error::InvalidOption {
                option,
                message: message.to_owned(),
            })
        };
        if self.send_capacity == 0 {
            return bad("send_capacity", "must be at least 1");
        }
        if self.receive_capacity == 0 {
            return bad("receive_capacity", "must be at least 1");
        }
        if self.receive_queue_bytes == 0 {
            return bad("receive_queue_bytes", "must be at least 1");
        }
        if self.ping_interval == Some(Duration::ZERO) {
            return bad(
                "ping_interval",
                "must be longer than zero (use None to turn pings off)",
            );
        }
        if self.pong_timeout.is_zero() {
            return bad("pong_timeout", "must be longer than zero");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be longer than zero");
        }
        if self.max_message_bytes < 1024 {
            return bad("max_message_bytes", "must be at least 1024");
        }
        if let Some(policy) = &self.reconnect {
            policy.validate()?;
        }
        let url = self.url();
        let option = if self.url.is_some() {
            "url"
        } else {
            "base_url"
        };
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(Error::InvalidOption {
                option,
                message: format!("`{url}` is not a ws:// or wss:// URL"),
            });
        }
        crate::url_check::check_encrypted(&url, self.allow_insecure, option, "allow_insecure")
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let o = ConnectOptions::default();
        assert_eq!(
            o.url(),
            "wss://api.openai.com/v1/realtime?model=gpt-realtime"
        );
        assert_eq!(
            o.clone().call_id("rtc_1 2").url(),
            "wss://api.openai.com/v1/realtime?call_id=rtc_1%202"
        );
        assert_eq!(
            o.clone().base_url("ws://h/x?a=b").url(),
            "ws://h/x?a=b&model=gpt-realtime"
        );
        assert_eq!(o.clone().exact_url("ws://h/y").url(), "ws://h/y");
        let az = ConnectOptions::azure("https://res.openai.azure.com/", "my-deploy");
        assert_eq!(
            az.url(),
            "wss://res.openai.azure.com/openai/v1/realtime?model=my-deploy"
        );
        assert_eq!(az.auth, AuthScheme::ApiKeyHeader);
    }

    #[test]
    fn validation_names_the_option() {
        let err = ConnectOptions::default()
            .base_url("https://x")
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "base_url",
                    ..
                }
            ),
            "{err}"
        );
        let err = ConnectOptions::default()
            .send_capacity(0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("send_capacity"), "{err}");
    }

    #[test]
    fn policies_and_zero_timeouts_are_checked_before_any_io() {
        for m in [f64::NAN, f64::INFINITY, 0.5] {
            let err = ConnectOptions::default()
                .reconnect(Some(ReconnectPolicy::default().multiplier(m)))
                .validate()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidOption {
                        option: "reconnect.multiplier",
                        ..
                    }
                ),
                "{m}: {err}"
            );
        }
        for o in [
            ConnectOptions::default().pong_timeout(Duration::ZERO),
            ConnectOptions::default().connect_timeout(Duration::ZERO),
        ] {
            assert!(matches!(o.validate(), Err(Error::InvalidOption { .. })));
        }
    }

    #[test]
    fn debug_hides_the_key_and_header_values() {
        let o = ConnectOptions::default()
            .api_key("sk-secret-123")
            .header("X-Trace", "abc");
        let dbg = format!("{o:?}");
        assert!(
            !dbg.contains("sk-secret-123") && !dbg.contains("abc"),
            "{dbg}"
        );
    }
}
