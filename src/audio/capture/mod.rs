//! Capture: the microphone (or a WAV file) into a session, through resampling and echo
//! cancellation.
//!
//! [`capture_audio`] opens the input on a capture thread and streams it as
//! `input_audio_buffer.append`; the [`Capture`] handle mutes, pauses, meters and stops it;
//! [`PushToTalk`] drives it by hand. The input callback ([`callback`]) only copies into a
//! lock-free ring; the capture thread ([`thread`]) down-mixes, resamples and runs the
//! audio processor ([`processor`]) with the playback as far end.

mod callback;
mod handle;
mod input;
mod options;
mod processor;
mod push_to_talk;
mod thread;
mod warm_up;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

pub use handle::{Capture, CaptureMetrics, Level};
pub use input::{InputInfo, InputSource};
pub use options::{CaptureOptions, Processing};
#[cfg(feature = "aec-webrtc")]
pub use processor::WebRtcProcessor;
pub use processor::{AudioProcessor, PassThrough, ProcessingOptions, SonoraProcessor};
pub use push_to_talk::PushToTalk;

use crate::Error;
use crate::audio::device;
use crate::realtime::EventSender;

/// Streams a microphone (or WAV file) into the session as `input_audio_buffer.append`.
///
/// The input callback only copies into a lock-free ring; a capture thread down-mixes,
/// resamples to 24 kHz (rubato), runs 10 ms frames through the audio processor with the
/// playback as far end, encodes, and sends every `interval`. The device is opened on that
/// thread, so the caller's async thread never waits on it; this returns once it runs.
///
/// ```no_run
/// use vivavoce::audio::{capture_audio, stream, CaptureOptions, PlaybackOptions};
/// use vivavoce::realtime::{connect, ConnectOptions};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, rx) = connect(ConnectOptions::default()).await?;
/// let (events, playback) = stream(rx, PlaybackOptions::new(tx.clone())).await?;
/// // The echo canceller's far end: the assistant will not hear itself.
/// let mic = CaptureOptions::default().reference(playback.echo_reference());
/// let capture = capture_audio(tx.clone(), mic).await?;
/// # let _ = events;
/// // … talk …
/// capture.stop().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::InvalidOption`] for options that cannot work (before anything is opened),
/// [`Error::NoRuntime`] outside a tokio runtime, [`Error::NoAudioDevice`] when there is no
/// such input, [`Error::AudioDevice`] when it refuses the stream, [`Error::Wav`] when the
/// file cannot be read.
///
/// # Cancel safety
///
/// Cancel-safe: dropped before it completes, the capture thread releases the input as
/// soon as it has opened it, and nothing is sent.
pub async fn capture_audio(sender: EventSender, options: CaptureOptions) -> Result<Capture, Error> {
    options.validate()?;
    let runtime = Handle::try_current().map_err(|_| Error::NoRuntime {
        function: "audio::capture_audio",
    })?;
    let shared = Arc::new(thread::CaptureShared::default());
    shared.paused.store(options.start_paused, Ordering::Release);
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let (ready_tx, ready_rx) = oneshot::channel();
    let thread_shared = shared.clone();
    let join = device::spawn("vivavoce-capture", "capture", move || {
        thread::run(options, sender, thread_shared, ctl_rx, ready_tx)
    })?;
    let started = match ready_rx.await {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(Error::CaptureEnded), // the thread died
    };
    Ok(Capture {
        shared,
        input: started.input,
        ctl: ctl_tx,
        thread: join.thread().clone(),
        join: Mutex::new(Some(join)),
        info: started.info,
        processor: started.processor,
        runtime,
    })
}
