//! Playback: a session's audio on an output device (or a WAV file).
//!
//! [`Playback::open`] opens the output on a playback thread; [`Playback::attach`] splits
//! the audio off a session's events onto it and hands back the rest; [`stream`] does both.
//! The device callback ([`callback`]) only reads a lock-free ring and writes atomics: the
//! playback thread ([`thread`]) decodes, resamples, tracks positions ([`position`]) and
//! turns what was played into the echo canceller's far end ([`echo_reference`]).

mod callback;
mod control;
mod cushion;
mod echo_reference;
mod gaps;
mod handle;
mod interruption;
mod options;
mod output;
mod period;
mod position;
mod split;
mod thread;

pub(crate) use callback::{Renderer, Shared};
pub use echo_reference::{EchoReference, ReferenceFrame};
pub use handle::{Playback, PlaybackMetrics, PlaybackPositions};
pub use interruption::Interruption;
pub use options::PlaybackOptions;
pub use output::{OutputInfo, OutputTarget};
pub use position::ItemPosition;

use crate::Error;
use crate::realtime::EventReceiver;

/// Plays a session's audio and hands back every other event: [`Playback::open`], then
/// [`Playback::attach`].
///
/// If the output cannot be opened the receiver is dropped with the error; to fall back
/// to another output (a WAV file, say) with the same session, call `open` and `attach`
/// yourself.
///
/// ```no_run
/// use vivavoce::audio::{stream, PlaybackOptions};
/// use vivavoce::realtime::{connect, ConnectOptions, ServerEvent};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, rx) = connect(ConnectOptions::default()).await?;
/// let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone())).await?;
/// while let Some(event) = events.recv().await {
///     if let ServerEvent::ResponseDone(_) = event {
///         playback.drain().await?; // the reply has been heard
///     }
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Those of [`Playback::open`].
///
/// # Cancel safety
///
/// Cancel-safe (see [`Playback::open`]); the receiver is dropped with the future.
pub async fn stream(
    receiver: EventReceiver,
    options: PlaybackOptions,
) -> Result<(EventReceiver, Playback), Error> {
    let playback = Playback::open(options).await?;
    let events = playback.attach(receiver);
    Ok((events, playback))
}
