//! The Realtime API over a WebRTC peer connection (feature `webrtc`): the same
//! [`EventSender`]/[`EventReceiver`] pair as [`connect`](super::connect), with the audio on
//! an audio track instead of base64 events.
//!
//! [`connect`] sends an SDP offer to `POST /v1/realtime/calls` and opens the peer
//! connection from the answer: the events go over the `oai-events` data channel, the
//! audio over one track each way, Opus when the answer takes it and G.711 (PCMU, PCMA)
//! when it does not (see [`CallCodec`]; 20 ms packets). What an app already does keeps
//! working, with the session's 24 kHz PCM16 whatever the codec:
//!
//! - an `input_audio_buffer.append` sent through the sender (what capture sends) goes
//!   out on the track, not the channel (the server's VAD still reports
//!   `input_audio_buffer.speech_started`/`stopped`);
//! - the remote track comes back as local `response.output_audio.delta` events (24 kHz
//!   PCM16, one per 20 ms packet), so playback, its echo reference and WAV output need no
//!   change. Audio deltas that the server also sends on the channel are dropped.
//!
//! The [`Call`] names the call (for a sideband WebSocket with
//! [`ConnectOptions::call_id`](super::ConnectOptions)), hangs it up and mutes the
//! microphone track. Interrupting a reply over WebRTC is `response.cancel` followed by
//! `output_audio_buffer.clear`; `output_audio_buffer.started`/`stopped`/`cleared` say
//! where the server's playout stands.
//!
//! # Limits
//!
//! One message on the channel carries at most 64 KiB (OpenAI's answer names no
//! `a=max-message-size`): a larger event is refused by `send` with
//! [`Error::EventTooLarge`] (appends aside: they go on the track). A lost call ends the
//! receiver with [`Disconnected`] (`will_reconnect: false`);
//! there is no reconnect.

mod calls;
#[doc(hidden)]
pub mod g711;
#[doc(hidden)]
pub mod opus;
pub(crate) mod peer;
pub(crate) mod peer_io;
pub(crate) mod sdp;
pub(crate) mod track;

#[cfg(feature = "mock")]
pub(crate) use calls::form_parts;
#[cfg(feature = "mock")]
pub(crate) use opus::FRAME;
pub use track::CallCodec;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use tokio::sync::{mpsc, oneshot};

use super::api_key::{ApiKey, AuthScheme};
use super::driver::Driver;
use super::events::{ClientEvent, Disconnected, ServerEvent, Session, SessionUpdate};
use super::handle::{EventReceiver, EventSender, SendBudget};
use crate::Error;
use crate::inbox::InboxSender;
use peer::{CHANNEL_LABEL, CallTask};
use peer_io::PeerIo;

/// The most one data channel message carries without `a=max-message-size` (RFC 8841).
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;

/// Options of [`connect`].
///
/// ```
/// use vivavoce::realtime::Session;
/// use vivavoce::realtime::webrtc::CallOptions;
/// let options = CallOptions::default().session(Session::default().model("gpt-realtime"));
/// assert_eq!(options.base_url, "https://api.openai.com/v1");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct CallOptions {
    /// The key: a standard key with a [`session`](Self::session), or an ephemeral client
    /// secret without one. Default `None` reads `OPENAI_API_KEY`.
    pub api_key: Option<ApiKey>,
    /// The API's base URL, default `https://api.openai.com/v1`.
    pub base_url: String,
    /// How the key is sent, default [`AuthScheme::Bearer`].
    pub auth: AuthScheme,
    /// The session. `Some`: the offer goes as `multipart/form-data` with it (a standard
    /// key), and it is sent again as `session.update` when the channel opens. `None`
    /// (default): the offer goes as `application/sdp`, and the session is the one the
    /// ephemeral key was made for.
    pub session: Option<Session>,
    /// Time limit of each request to the calls endpoint, and of opening the peer
    /// connection and its channel after the answer; default 15 s.
    pub timeout: Duration,
    /// The HTTP client; default `None`, one shared client.
    pub http_client: Option<reqwest::Client>,
    /// Allow a plain `http://` base URL to another machine; default `false` (see
    /// [`ClientSecretOptions::allow_insecure`](super::ClientSecretOptions::allow_insecure)).
    pub allow_insecure: bool,
    /// Received events held for the receiver, as
    /// [`ConnectOptions::receive_capacity`](super::ConnectOptions::receive_capacity):
    /// while it is full, the call's task waits (and the call's timers with it).
    pub receive_capacity: usize,
    /// Bytes of received events held, as
    /// [`ConnectOptions::receive_queue_bytes`](super::ConnectOptions::receive_queue_bytes).
    pub receive_queue_bytes: usize,
    /// Events queued by senders, as
    /// [`ConnectOptions::send_capacity`](super::ConnectOptions::send_capacity).
    pub send_capacity: usize,
    /// Bytes queued by senders, as
    /// [`ConnectOptions::send_queue_bytes`](super::ConnectOptions::send_queue_bytes).
    pub send_queue_bytes: usize,
    /// The audio codecs the offer names, best first (a codec named twice counts once);
    /// default [`CallCodec::ALL`] (Opus, then PCMU, then PCMA). Of those the answer
    /// takes, audio goes out in the first.
    pub codecs: Vec<CallCodec>,
}

impl Default for CallOptions {
    fn default() -> Self {
        let ws = super::ConnectOptions::default();
        CallOptions {
            api_key: None,
            base_url: "https://api.openai.com/v1".to_owned(),
            auth: AuthScheme::Bearer,
            session: None,
            timeout: Duration::from_secs(15),
            http_client: None,
            allow_insecure: false,
            receive_capacity: ws.receive_capacity,
            receive_queue_bytes: ws.receive_queue_bytes,
            send_capacity: ws.send_capacity,
            send_queue_bytes: ws.send_queue_bytes,
            codecs: CallCodec::ALL.to_vec(),
        }
    }
}

impl CallOptions {
    /// Sets the key.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the base URL (`…/v1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the session (and so the multipart form; see [`session`](Self::session)).
    pub fn session(mut self, session: Session) -> Self {
        self.session = Some(session);
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`codecs`](Self::codecs), best first.
    pub fn codecs(mut self, codecs: impl IntoIterator<Item = CallCodec>) -> Self {
        self.codecs = codecs.into_iter().collect();
        self
    }
}

/// A call's own handle: its id, hang-up and mute. Dropping it changes nothing; the call
/// lives while its sender or receiver does.
#[derive(Clone)]
pub struct Call {
    id: String,
    endpoint: Arc<calls::Endpoint>,
    muted: Arc<AtomicBool>,
    codec: CallCodec,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("muted", &self.is_muted())
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// The call id (`rtc_…`), from the answer's `Location`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The codec the audio goes out in: the first of [`CallOptions::codecs`] that the
    /// answer takes.
    pub fn codec(&self) -> CallCodec {
        self.codec
    }

    /// Stops (or restarts) sending appended audio on the track; appends sent while muted
    /// are dropped.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether appended audio is dropped.
    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Ends the call on the API's side (`POST /v1/realtime/calls/{id}/hangup`); the
    /// receiver then ends when the server closes the channel.
    ///
    /// # Errors
    ///
    /// [`Error::Http`] with the API's answer, [`Error::Connect`] or [`Error::Timeout`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped, the request is abandoned; whether the server got it is
    /// unknown.
    pub async fn hangup(&self) -> Result<(), Error> {
        self.endpoint.hangup(&self.id).await
    }
}

/// The local address that reaches `host`: the host candidate's address.
async fn local_ip_towards(host: &str, port: u16) -> Result<IpAddr, std::io::Error> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let remote = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("`{host}` has no address")))?;
    let any: IpAddr = if remote.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    // Connecting a UDP socket sends nothing; it picks the route and so the address.
    let probe = tokio::net::UdpSocket::bind((any, 0)).await?;
    probe.connect(remote).await?;
    Ok(probe.local_addr()?.ip())
}

/// Opens a call: the offer to the calls endpoint, then the peer connection, and returns
/// once the `oai-events` channel is open.
///
/// Errors: [`Error::MissingApiKey`] or [`Error::InvalidOption`] before any I/O;
/// [`Error::Http`] with the API's JSON error for a refused offer (`401`, `400
/// invalid_offer`…); [`Error::InvalidResponse`] for an answer that is not SDP or has no
/// call id; [`Error::Timeout`] when the peer connection or its channel does not open
/// within [`CallOptions::timeout`] (an unreachable candidate, say); [`Error::Connect`]
/// when the endpoint is not reached.
///
/// Runs a call's task so that a bug in it (a panic) ends the receiver with a
/// `Disconnected { will_reconnect: false }`, never silently.
async fn guarded(task: impl Future<Output = ()>, evt_tx: InboxSender<ServerEvent>) {
    if AssertUnwindSafe(task).catch_unwind().await.is_err() {
        let error = Error::transport(std::io::Error::other("the call's task failed (a panic)"));
        let lost = Disconnected::new(error, None, false, 0);
        evt_tx.send(ServerEvent::Disconnected(lost)).await;
    }
}

/// # Cancel safety
///
/// Cancel-safe: dropped before it completes, the peer connection and its socket go with
/// it and no task is left behind (a call the server already answered is left to time out
/// on its side).
pub async fn connect(options: CallOptions) -> Result<(EventSender, EventReceiver, Call), Error> {
    crate::url_check::check_encrypted(
        &options.base_url,
        options.allow_insecure,
        "base_url",
        "allow_insecure",
    )?;
    let uri: http::Uri = options.base_url.parse().map_err(|e| Error::InvalidOption {
        option: "base_url",
        message: format!("`{}` is not a URL: {e}", options.base_url),
    })?;
    let key = super::api_key::resolve_key(options.api_key.as_ref(), options.auth)?;
    if options.codecs.is_empty() {
        return Err(Error::InvalidOption {
            option: "codecs",
            message: "no audio codec to offer: name at least one".into(),
        });
    }
    let host = uri.host().unwrap_or_default().to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let connect_error = |e: std::io::Error| Error::Connect {
        url: options.base_url.clone(),
        source: Arc::new(e),
    };
    let ip = local_ip_towards(&host, port).await.map_err(connect_error)?;
    let (socket, candidate) = peer_io::bind(ip).await.map_err(connect_error)?;

    let mut rtc = peer_io::new_rtc(&options.codecs);
    rtc.add_local_candidate(candidate);
    let mut change = rtc.sdp_api();
    let audio_mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    change.add_channel(CHANNEL_LABEL.to_owned());
    let (offer, pending) = change
        .apply()
        .ok_or_else(|| Error::transport(std::io::Error::other("no SDP offer was made")))?;

    let endpoint = Arc::new(calls::Endpoint {
        base_url: options.base_url.clone(),
        key,
        auth: options.auth,
        timeout: options.timeout,
        client: options
            .http_client
            .clone()
            .unwrap_or_else(|| crate::http_client::shared().clone()),
    });
    let answer = endpoint
        .create_call(&offer.to_sdp_string(), options.session.as_ref())
        .await?;
    let invalid = |message: String| Error::InvalidResponse {
        url: format!("{}/realtime/calls", options.base_url.trim_end_matches('/')),
        message,
    };
    let sdp = SdpAnswer::from_sdp_string(&answer.sdp)
        .map_err(|e| invalid(format!("the SDP answer does not parse: {e}")))?;
    rtc.sdp_api()
        .accept_answer(pending, sdp)
        .map_err(|e| invalid(format!("the SDP answer does not fit the offer: {e}")))?;
    // The codec audio goes out in: the answer's pick, by our order of preference.
    let taken = rtc
        .writer(audio_mid)
        .and_then(|w| track::pick(w.payload_params(), &options.codecs));
    let Some((audio_pt, codec)) = taken else {
        return Err(invalid(format!(
            "the SDP answer takes none of the audio codecs offered ({:?})",
            options.codecs
        )));
    };

    let io = PeerIo::new(rtc, socket).map_err(connect_error)?;
    let session_update = match &options.session {
        Some(session) => {
            let update = ClientEvent::from(SessionUpdate::new(session.clone()));
            let text = serde_json::to_string(&update).map_err(|e| Error::Serialize {
                event_type: "session.update".into(),
                message: e.to_string(),
            })?;
            Some(text.into())
        }
        None => None,
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(options.send_capacity);
    let (evt_tx, evt_rx) =
        crate::inbox::inbox(options.receive_capacity, options.receive_queue_bytes);
    let budget = Arc::new(SendBudget::new(options.send_queue_bytes));
    let muted = Arc::new(AtomicBool::new(false));
    let (opened_tx, opened_rx) = oneshot::channel();
    let codec_error = |m: String| Error::transport(std::io::Error::other(m));
    let task = CallTask {
        io,
        cmd_rx,
        evt_tx: evt_tx.clone(),
        budget: budget.clone(),
        session_update,
        opened: Some(opened_tx),
        muted: muted.clone(),
        channel: None,
        audio: (audio_mid, audio_pt),
        pending: VecDeque::new(),
        encoder: track::TrackEncoder::new(codec).map_err(codec_error)?,
        decoder: track::TrackDecoder::default(),
        rtp_time: 0,
        response_id: String::new(),
        item_id: String::new(),
        batch: crate::inbox::Batch::default(),
        close_waiters: Vec::new(),
    };
    let driver = Driver::spawn(guarded(task.run(), evt_tx));
    let receiver = EventReceiver::from_connection(evt_rx, driver);
    // The task runs on its own; the receiver is not read until this returns.
    match tokio::time::timeout(options.timeout, opened_rx).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(_)) => {
            return Err(Error::transport(std::io::Error::other(
                "the call's task ended before its channel opened",
            )));
        }
        Err(_) => {
            return Err(Error::Timeout {
                operation: "opening the WebRTC peer connection and its `oai-events` channel",
                after: options.timeout,
            });
        }
    }
    let sender =
        EventSender::new(cmd_tx, budget, None, None).with_max_event_bytes(MAX_MESSAGE_BYTES);
    let call = Call {
        id: answer.call_id,
        endpoint,
        muted,
        codec,
    };
    Ok((sender, receiver, call))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_the_task_ends_the_receiver_with_a_disconnect() {
        let (evt_tx, evt_rx) = crate::inbox::inbox(8, 1 << 20);
        let sent = evt_tx.clone();
        let task = async move {
            let created = r#"{"type":"session.created","event_id":"e1","session":{}}"#;
            sent.send(crate::realtime::events::parse_server_event(created.into()))
                .await;
            panic!("a bug in the call's task");
        };
        let mut rx = EventReceiver::from_connection(evt_rx, Driver::spawn(guarded(task, evt_tx)));
        // What came before the panic is kept; then the end is said.
        assert_eq!(rx.recv().await.unwrap().event_type(), "session.created");
        match rx.recv().await {
            Some(ServerEvent::Disconnected(lost)) => {
                assert!(!lost.will_reconnect);
                assert!(lost.error.to_string().contains("panic"), "{}", lost.error);
            }
            other => panic!("{other:?}"),
        }
        assert!(rx.recv().await.is_none());
    }
}
