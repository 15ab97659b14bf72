//! The device period, and its fallback when the device runs dry.
//!
//! Unless a period is asked for, playback opens a device with the shortest period it
//! accepts of at least [`MIN_PERIOD_MS`]: each reply then starts that much sooner. The
//! callback thread is cpal's and not real-time, so on a starved machine the device can run
//! dry at that size (an xrun, counted as a device underrun). Then, the next time nothing
//! is playing or due, playback reopens the output with twice the period, up to
//! [`FALLBACK_MAX_PERIOD_MS`]. The renderer (the ring, the positions, the echo tap) moves
//! into the new stream whole, so nothing queued, counted or timed is lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use super::callback::{Renderer, Shared};
use super::options::PlaybackOptions;
use super::output::Device;
use crate::audio::device::{FALLBACK_MAX_PERIOD_MS, MIN_PERIOD_MS, Running};

/// The period playback opens with now, and the way back for the renderer.
pub(crate) struct Period {
    /// The device, found and configured once: starting it again takes only a new stream.
    device: Option<Device>,
    /// The least period asked of the device, in ms; `None` when it does not adapt (a
    /// period or a WAV file was asked for).
    floor_ms: Option<u32>,
    /// Device underruns already acted on.
    xruns_seen: u64,
    home: SyncSender<Renderer>,
    back: Receiver<Renderer>,
}

/// The least period to reopen at after the device ran dry `xruns` times (`seen` of them
/// already acted on) with a floor of `floor_ms`; `None` to keep the output as it is.
fn longer(floor_ms: u32, xruns: u64, seen: u64) -> Option<u32> {
    let next = floor_ms * 2;
    (xruns > seen && next <= FALLBACK_MAX_PERIOD_MS).then_some(next)
}

impl Period {
    /// For an output about to open with `setup`; also the renderer's way home, for
    /// [`output::open`].
    pub(crate) fn new(setup: &PlaybackOptions) -> Self {
        let adapts = setup.buffer_frames.is_none();
        let (home, back) = std::sync::mpsc::sync_channel(1);
        Period {
            device: None,
            floor_ms: adapts.then_some(MIN_PERIOD_MS),
            xruns_seen: 0,
            home,
            back,
        }
    }

    /// The least period to ask of the device, in ms.
    pub(crate) fn floor_ms(&self) -> u32 {
        self.floor_ms.unwrap_or(MIN_PERIOD_MS)
    }

    /// Where the renderer goes when the device stream lets go of it.
    pub(crate) fn home(&self) -> SyncSender<Renderer> {
        self.home.clone()
    }

    /// The device the output opened (`None`: a WAV file).
    pub(crate) fn opened(&mut self, device: Option<Device>) {
        if device.is_none() {
            self.floor_ms = None;
        }
        self.device = device;
    }

    /// Reopens `output` with a longer period if the device ran dry since the last look
    /// and nothing is `playing` (nor queued, nor awaited). Blocks while the device closes
    /// and starts again (the device was found and configured once): call it from the playback thread only.
    pub(crate) fn check(&mut self, output: &mut Option<Running>, shared: &Arc<Shared>, busy: bool) {
        let Some(floor) = self.floor_ms else { return };
        let xruns = shared.xruns.load(Ordering::Relaxed);
        if busy || xruns <= self.xruns_seen || shared.device_lost.load(Ordering::Acquire) {
            return;
        }
        let Some(next) = longer(floor, xruns, self.xruns_seen) else {
            self.floor_ms = None; // as long as it goes: the device runs as it is
            return;
        };
        let Some(device) = self.device.clone() else {
            return;
        };
        let began = std::time::Instant::now();
        // Stopping the stream joins cpal's thread, which drops the callback: the renderer
        // comes back.
        drop(output.take());
        let Ok(renderer) = self.back.recv_timeout(Duration::from_secs(2)) else {
            return self.lost(shared, "the stopped device stream kept its callback");
        };
        let renderer = match device.start(renderer, device.config(next)) {
            Ok(running) => {
                tracing::info!(
                    device_underruns = xruns,
                    from_ms = floor,
                    to_ms = next,
                    took = ?began.elapsed(),
                    "audio output ran dry: reopened with a longer period"
                );
                *output = Some(running);
                self.floor_ms = Some(next);
                self.xruns_seen = shared.xruns.load(Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, to_ms = next, "reopening the audio output failed");
                match self.back.try_recv() {
                    Ok(r) => r,
                    Err(_) => return self.lost(shared, "the renderer was lost"),
                }
            }
        };
        // Back to the period that worked, though it ran dry.
        match device.start(renderer, device.config(floor)) {
            Ok(running) => *output = Some(running),
            Err(e) => return self.lost(shared, &e.to_string()),
        }
        self.floor_ms = None;
        self.xruns_seen = shared.xruns.load(Ordering::Relaxed);
    }

    fn lost(&mut self, shared: &Shared, why: &str) {
        tracing::warn!(
            why,
            "audio output: could not reopen the device; playback has stopped"
        );
        shared.device_lost.store(true, Ordering::Release);
        self.floor_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_after_the_device_runs_dry_up_to_the_longest() {
        assert_eq!(longer(5, 0, 0), None, "no underrun, no change");
        assert_eq!(longer(5, 1, 0), Some(10));
        assert_eq!(longer(10, 3, 1), Some(20));
        assert_eq!(longer(10, 3, 3), None, "underruns already acted on");
        assert_eq!(longer(20, 9, 3), None, "as long as it goes");
    }
}
