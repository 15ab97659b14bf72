//! The [`Capture`] handle: control, meters, counters, stop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::callback::InputShared;
use super::input::InputInfo;
use super::thread::{CaptureShared, Ctl};
use crate::Error;
use crate::audio::priority::Priority;
use crate::audio::{RATE, device};

/// Level of the last 10 ms, after processing, for meters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Level {
    /// RMS in dBFS (−120 for silence).
    pub rms_db: f32,
    /// Peak in dBFS.
    pub peak_db: f32,
}

/// Capture counters, from [`Capture::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureMetrics {
    /// 10 ms frames processed.
    pub frames: u64,
    /// Device frames lost because processing fell behind (the ring was full).
    pub frames_dropped: u64,
    /// Overruns the device reported itself: the callback came late and the device's own
    /// buffer overflowed.
    pub device_overruns: u64,
    /// Far-end frames given to the echo canceller.
    pub render_frames: u64,
    /// Times the far end skipped (the speaker ran dry, or its play times jumped) and the
    /// processor was told ([`AudioProcessor::far_end_skipped`](super::AudioProcessor::far_end_skipped)):
    /// once per glitch, though both its gap and the device's underrun count show it.
    pub far_end_skips: u64,
    /// `input_audio_buffer.append` events sent.
    pub appends: u64,
    /// Audio bytes sent (before base64).
    pub bytes: u64,
    /// Audio sent, at 24 kHz.
    pub sent: Duration,
    /// Mean and worst processing time per 10 ms frame.
    pub processing_mean: Duration,
    /// Worst processing time per frame.
    pub processing_max: Duration,
    /// From the input callback that delivered an append's last sample to the append being
    /// queued for sending: the last one, the mean and the worst.
    pub latency_last: Duration,
    /// Mean mic-to-event latency.
    pub latency_mean: Duration,
    /// Worst mic-to-event latency.
    pub latency_max: Duration,
    /// Whether the capture thread got real-time scheduling (see [`Capture`]'s docs).
    pub realtime: bool,
}

/// A running capture, from [`capture_audio`](super::capture_audio).
///
/// [`stop`](Capture::stop) ends it and waits until the last audio is sent and the device
/// released. Dropping it ends it too, without ever blocking the thread that drops it: the
/// capture thread sends what it has (waiting up to 2 s for room in the session's send
/// queue) and releases the device by itself.
///
/// The capture thread and the device callback ask for real-time scheduling where the
/// system allows it; [`CaptureMetrics::realtime`] tells.
pub struct Capture {
    pub(crate) shared: Arc<CaptureShared>,
    pub(crate) input: Arc<InputShared>,
    pub(crate) ctl: mpsc::Sender<Ctl>,
    pub(crate) thread: std::thread::Thread,
    pub(crate) join: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) info: InputInfo,
    pub(crate) processor: &'static str,
    pub(crate) runtime: Handle,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("input", &self.info)
            .field("processor", &self.processor)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Capture {
    /// The device (or file) and configuration recording.
    pub fn input(&self) -> &InputInfo {
        &self.info
    }

    /// The audio processor's name (`"sonora"`, `"pass-through"`, …).
    pub fn processor(&self) -> &'static str {
        self.processor
    }

    /// Ends capture: what was captured is processed and sent (the last partial chunk
    /// too), then the device is released.
    ///
    /// # Errors
    ///
    /// The error that ended capture early, if one did (the device failed, the connection
    /// closed), or [`Error::Timeout`] if the session's send queue stayed full for 2 s so
    /// the last audio could not be sent.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: capture ends whether or not the future is polled to the end.
    pub async fn stop(&self) -> Result<(), Error> {
        if let Some(j) = self.begin_stop() {
            let _ = self.runtime.spawn_blocking(move || j.join()).await;
        }
        match self
            .shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether capture has ended (stopped, the WAV file ended, or the device failed).
    pub fn is_ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }

    /// Sends silence instead of the microphone (the server's VAD hears the turn end).
    pub fn mute(&self) {
        self.shared.muted.store(true, Ordering::Relaxed);
    }

    /// Sends the microphone again.
    pub fn unmute(&self) {
        self.shared.muted.store(false, Ordering::Relaxed);
    }

    /// Whether [`mute`](Self::mute) is on.
    pub fn is_muted(&self) -> bool {
        self.shared.muted.load(Ordering::Relaxed)
    }

    /// Stops sending anything (the microphone keeps running, so echo cancellation stays
    /// adapted); [`resume`](Self::resume) sends again from then on.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Sends again after [`pause`](Self::pause): the audio captured from now on, even
    /// if the capture thread gets to some of it only later.
    pub fn resume(&self) {
        let now = self.shared.epoch.0.elapsed().as_nanos() as u64;
        self.shared.resumed_ns.store(now.max(1), Ordering::Release);
        self.shared.paused.store(false, Ordering::Release);
    }

    /// Sends what has been captured so far now, without waiting for the interval.
    ///
    /// # Errors
    ///
    /// [`Error::CaptureEnded`] after capture ended; the session's send errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped, it only stops waiting (the flush may still happen).
    pub async fn flush(&self) -> Result<(), Error> {
        self.request(false, false).await
    }

    pub(crate) async fn request(&self, discard: bool, pause: bool) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Flush {
                discard,
                pause,
                reply,
            })
            .await
            .map_err(|_| Error::CaptureEnded)?;
        self.thread.unpark();
        rx.await.map_err(|_| Error::CaptureEnded)?
    }

    /// Raises the stop flag; the thread's handle, the first time.
    fn begin_stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        self.join.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The level of the last 10 ms, after processing.
    pub fn level(&self) -> Level {
        let f = |a: &std::sync::atomic::AtomicU32| f32::from_bits(a.load(Ordering::Relaxed));
        Level {
            rms_db: f(&self.shared.rms_db),
            peak_db: f(&self.shared.peak_db),
        }
    }

    /// Counters for UIs and logs: frames processed and dropped, appends sent, processing
    /// time, mic-to-event latency.
    pub fn metrics(&self) -> CaptureMetrics {
        let s = &*self.shared;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let frames = n(&s.frames);
        let appends = n(&s.appends);
        CaptureMetrics {
            frames,
            frames_dropped: n(&self.input.dropped),
            device_overruns: n(&self.input.xruns),
            render_frames: n(&s.render_frames),
            far_end_skips: n(&s.far_end_skips),
            appends,
            bytes: n(&s.bytes),
            sent: Duration::from_nanos(n(&s.samples_sent) * 1_000_000_000 / u64::from(RATE)),
            processing_mean: Duration::from_nanos(n(&s.processing_ns) / frames.max(1)),
            processing_max: Duration::from_nanos(n(&s.processing_max_ns)),
            latency_last: Duration::from_nanos(n(&s.latency_last_ns)),
            latency_mean: Duration::from_nanos(n(&s.latency_sum_ns) / appends.max(1)),
            latency_max: Duration::from_nanos(n(&s.latency_max_ns)),
            realtime: s.thread_priority.get() == Priority::RealTime,
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(join) = self.begin_stop() {
            device::finish_off_thread(join);
        }
    }
}
