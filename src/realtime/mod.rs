//! The Realtime API over a WebSocket.
//!
//! - [`connect`] opens a session with [`ConnectOptions`] (key: [`ApiKey`], [`AuthScheme`];
//!   [`ReconnectPolicy`]; hooks: [`IncomingHook`], [`OutgoingHook`], [`EventCheck`]) and
//!   returns its two halves: [`EventSender`] (and [`WeakEventSender`]) and
//!   [`EventReceiver`].
//! - [`ClientEvent`] is what you send, [`ServerEvent`] what you receive; [`Session`]
//!   configures the session and [`Item`] is an item of the conversation. The payload of
//!   every event, and the types they carry, are in [`events`].
//! - [`create_client_secret`] makes an ephemeral key for a browser ([`ClientSecretOptions`],
//!   [`ClientSecret`]).
//! - [`codec`] converts the G.711 wire formats to and from PCM16.
//! - `webrtc` (feature `webrtc`) opens the same pair over a WebRTC peer connection.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::mpsc;

mod api_key;
mod client_secret;
pub mod codec;
#[cfg(feature = "conversation")]
#[cfg_attr(docsrs, doc(cfg(feature = "conversation")))]
pub mod conversation;
mod driver;
pub mod events;
#[doc(hidden)]
pub mod fuzz;
mod handle;
mod handshake;
mod options;
mod reconnect_policy;
pub(crate) mod session_merge;
mod transport;
#[cfg(feature = "webrtc")]
#[cfg_attr(docsrs, doc(cfg(feature = "webrtc")))]
pub mod webrtc;
mod ws;

pub use client_secret::{ClientSecret, ClientSecretOptions, create_client_secret};
// The payload types' old paths (`realtime::ResponseCreate`), kept so that programs written
// before `realtime::events` still build; the documented paths are in `events`.
pub use api_key::{ApiKey, AuthScheme};
#[doc(hidden)]
pub use events::*;
pub use events::{ClientEvent, Item, ServerEvent, Session};
pub use handle::{EventReceiver, EventSender, WeakEventSender};
pub use options::{
    ConnectOptions, EventCheck, IncomingHook, OutgoingHook, ReconnectHook, Reconnecting,
};
pub use reconnect_policy::ReconnectPolicy;

use crate::Error;

/// Opens a Realtime WebSocket and returns its two halves.
///
/// Checks the options and finds the key first ([`Error::MissingApiKey`] before any I/O),
/// then performs the handshake: a refusal comes back as [`Error::Http`] with the status
/// and the server's body, an unreachable server as [`Error::Connect`]. On success one
/// background task owns the socket; it ends when the connection closes and every handle
/// is dropped. While [`EventReceiver::recv`] waits, the receiver runs that task's work
/// itself (reading and parsing on the caller's thread, with no hand-over per event);
/// otherwise the background task does.
///
/// # Cancel safety
///
/// Cancel-safe: dropped before it completes, the half-open socket is dropped with it and
/// no task is left behind.
///
/// ```no_run
/// use vivavoce::realtime::{connect, ConnectOptions, Item, ServerEvent};
/// use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, mut rx) = connect(ConnectOptions::default()).await?;
/// tx.send(ConversationItemCreate::new(Item::user_text("Say hello."))).await?;
/// tx.send(ResponseCreate::default()).await?;
/// while let Some(event) = rx.recv().await {
///     match event {
///         ServerEvent::ResponseOutputAudioTranscriptDelta(d) => print!("{}", d.delta),
///         ServerEvent::ResponseDone(_) => break,
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn connect(options: ConnectOptions) -> Result<(EventSender, EventReceiver), Error> {
    options.validate()?;
    let key = options.resolve_key()?;
    let ws = handshake::handshake(&options, &key).await?;
    let (cmd_tx, cmd_rx) = mpsc::channel(options.send_capacity);
    let (evt_tx, evt_rx) =
        crate::inbox::inbox(options.receive_capacity, options.receive_queue_bytes);
    let budget = Arc::new(handle::SendBudget::new(options.send_queue_bytes));
    let outgoing = options.outgoing.clone();
    let check = options.check.clone();
    let task = transport::Task::new(options, key, cmd_rx, evt_tx.clone(), budget.clone());
    let driver = driver::Driver::spawn(async move {
        // A bug in the task must not end the receiver silently.
        if AssertUnwindSafe(task.run(ws)).catch_unwind().await.is_err() {
            let error = Error::transport(std::io::Error::other("the connection task failed"));
            let lost = events::Disconnected::new(error, None, false, 0);
            evt_tx.send(ServerEvent::Disconnected(lost)).await;
        }
    });
    Ok((
        EventSender::new(cmd_tx, budget, outgoing, check),
        EventReceiver::from_connection(evt_rx, driver),
    ))
}
