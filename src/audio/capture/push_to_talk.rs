//! [`PushToTalk`]: a capture driven by hand, for sessions without turn detection.

use super::handle::Capture;
use crate::Error;
use crate::realtime::EventSender;
use crate::realtime::events::{InputAudioBufferClear, InputAudioBufferCommit, ResponseCreate};

/// Push-to-talk over a [`Capture`]: nothing is sent until [`press`](Self::press); on
/// [`release`](Self::release) the captured audio is sent and committed and a response is
/// asked for; [`cancel`](Self::cancel) throws the turn away. Made for sessions with
/// `turn_detection: null`.
///
/// Start the capture paused ([`CaptureOptions::start_paused`](super::CaptureOptions)), so
/// that nothing at all goes out before the first press:
///
/// ```no_run
/// use vivavoce::audio::{capture_audio, CaptureOptions, PushToTalk};
/// # async fn run(tx: vivavoce::realtime::EventSender) -> Result<(), vivavoce::Error> {
/// let mic = capture_audio(tx.clone(), CaptureOptions::default().start_paused(true)).await?;
/// let ptt = PushToTalk::new(mic, tx);
/// ptt.press();
/// // … the user talks …
/// ptt.release().await?; // sent, committed, and a response asked for
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PushToTalk {
    capture: Capture,
    sender: EventSender,
}

impl PushToTalk {
    /// Wraps `capture` (paused from now on) and the session's sender. A capture that was
    /// not started paused may have sent audio already.
    pub fn new(capture: Capture, sender: EventSender) -> Self {
        capture.pause();
        PushToTalk { capture, sender }
    }

    /// Starts sending the microphone.
    pub fn press(&self) {
        self.capture.resume();
    }

    /// Sends what was captured, then `input_audio_buffer.commit` and `response.create`.
    ///
    /// # Errors
    ///
    /// [`Error::CaptureEnded`] after capture ended; the session's send errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropped midway, the turn may be sent without its commit.
    pub async fn release(&self) -> Result<(), Error> {
        self.capture.request(false, true).await?;
        self.sender.send(InputAudioBufferCommit::default()).await?;
        self.sender.send(ResponseCreate::default()).await
    }

    /// Drops what was captured since the press and sends `input_audio_buffer.clear`.
    ///
    /// # Errors
    ///
    /// [`Error::CaptureEnded`] after capture ended; the session's send errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropped midway, the audio is dropped but the clear may be unsent.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.capture.request(true, true).await?;
        self.sender.send(InputAudioBufferClear::default()).await
    }

    /// The capture underneath (levels, metrics, stop).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }
}
