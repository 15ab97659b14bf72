//! The device period, and its fallback when the device runs dry.
//!
//! Unless a period is asked for, playback opens a device with the shortest period it
//! accepts of at least [`MIN_PERIOD_MS`]: each reply then starts that much sooner. The
//! callback thread is cpal's and not real-time, so on a starved machine the device can run
//! dry at that size: an xrun, counted as a device underrun, or a cycle the sound server
//! dropped, which shows only as a gap in the play times ([`super::gaps`]). After a second
//! one within [`WINDOW`] (one alone is a hiccup, not a machine that cannot keep up), the
//! next time nothing is playing or due, playback reopens the output with twice the
//! period, up to [`FALLBACK_MAX_PERIOD_MS`]. The new stream starts beside the old one,
//! playing silence, and takes over once the audio server runs it (which took up to 0.3 s
//! in the busy test rig), so no reply waits for it. The renderer (the ring, the
//! positions, the echo tap) moves into the new stream whole, so nothing queued, counted
//! or timed is lost.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::callback::{Renderer, Shared};
use super::options::PlaybackOptions;
use super::output::{Device, Standby};
use crate::audio::device::{FALLBACK_MAX_PERIOD_MS, MIN_PERIOD_MS, Running};

/// The period playback opens with now, and the way back for the renderer.
pub(crate) struct Period {
    /// The device, found and configured once: starting it again takes only a new stream.
    device: Option<Device>,
    /// The least period asked of the device, in ms; `None` when it does not adapt (a
    /// period or a WAV file was asked for).
    floor_ms: Option<u32>,
    /// Dry spells seen ([`Shared::dry_spells`]), and whether they call for a longer period.
    dry: Dry,
    /// A stream with a longer period, started and waiting to take over.
    pending: Option<Pending>,
    home: SyncSender<Renderer>,
    back: Receiver<Renderer>,
}

/// A stream on standby, the period it was asked for, and since when it waits.
struct Pending {
    standby: Standby,
    next: u32,
    since: Instant,
}

/// How long a stream on standby may take to start before the fallback gives up.
const STANDBY_WAIT: Duration = Duration::from_secs(5);

/// Two device underruns within this call for a longer period.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);

/// The device underruns seen and when the last came.
#[derive(Debug, Default)]
struct Dry {
    seen: u64,
    last: Option<Instant>,
    due: bool,
}

impl Dry {
    /// Notes the device's underrun count `xruns` at `now`; says whether a longer period
    /// is due (two underruns within [`WINDOW`], until [`Dry::acted`]).
    fn note(&mut self, xruns: u64, now: Instant) -> bool {
        if xruns > self.seen {
            let recent = self.last.is_some_and(|t| now.duration_since(t) < WINDOW);
            self.due |= xruns - self.seen >= 2 || recent;
            self.seen = xruns;
            self.last = Some(now);
        }
        self.due
    }

    /// The output was reopened (or could not be) with the device at `xruns`.
    fn acted(&mut self, xruns: u64) {
        *self = Dry {
            seen: xruns,
            ..Dry::default()
        };
    }
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
            dry: Dry::default(),
            pending: None,
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

    /// Moves `output` to a longer period if the device keeps running dry, while nothing
    /// is `busy` (playing, queued or awaited): first starts a stream on standby, then,
    /// once the audio server runs it, hands the renderer over (so no reply waits for the
    /// server to link a new stream). A device that takes no second stream is closed and
    /// opened again instead. Blocks only while a stream stops (joining its thread): call
    /// it from the playback thread only.
    pub(crate) fn check(&mut self, output: &mut Option<Running>, shared: &Shared, busy: bool) {
        let Some(floor) = self.floor_ms else { return };
        if shared.device_lost.load(Ordering::Acquire) {
            self.pending = None;
            return;
        }
        if let Some(p) = &self.pending {
            if busy {
                return;
            }
            if p.standby.running() {
                return self.switch(output, shared, floor);
            }
            if p.since.elapsed() > STANDBY_WAIT {
                tracing::warn!("audio output: the stream with a longer period never started");
                self.pending = None;
                self.floor_ms = None;
            }
            return;
        }
        if !self.dry.note(shared.dry_spells(), Instant::now()) || busy {
            return;
        }
        let next = floor * 2;
        if next > FALLBACK_MAX_PERIOD_MS {
            self.floor_ms = None; // as long as it goes: the device runs as it is
            return;
        }
        let Some(device) = self.device.clone() else {
            return;
        };
        match device.standby(device.config(next)) {
            Ok(standby) => {
                self.pending = Some(Pending {
                    standby,
                    next,
                    since: Instant::now(),
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "no second stream on the device: reopening it");
                self.reopen(output, shared, &device, floor, next);
            }
        }
    }

    /// Hands the renderer from `output` to the stream on standby, which the audio server
    /// runs already.
    fn switch(&mut self, output: &mut Option<Running>, shared: &Shared, floor: u32) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        let began = Instant::now();
        let Some(renderer) = self.take_back(output, shared) else {
            return;
        };
        // The slot has room for one and is empty.
        if pending.standby.slot.push(renderer).is_err() {
            return self.lost(shared, "the stream on standby took no renderer");
        }
        *output = Some(pending.standby.running);
        let standby = Some(pending.since.elapsed());
        self.reopened(shared, (floor, pending.next), began, standby);
    }

    /// Logs the change of period (`standby`: how long the new stream ran before it took
    /// over, if it did so).
    fn reopened(
        &mut self,
        shared: &Shared,
        (from_ms, to_ms): (u32, u32),
        began: Instant,
        standby: Option<Duration>,
    ) {
        let spells = shared.dry_spells();
        tracing::info!(
            device_underruns = shared.xruns.load(Ordering::Relaxed),
            device_gaps = shared.device_gaps.load(Ordering::Relaxed),
            from_ms,
            to_ms,
            took = ?began.elapsed(),
            ?standby,
            "audio output ran dry: now with a longer period"
        );
        self.floor_ms = Some(to_ms);
        self.dry.acted(spells);
    }

    /// Closes `output` and opens it again with `next` ms (or, failing that, `floor`).
    fn reopen(
        &mut self,
        output: &mut Option<Running>,
        shared: &Shared,
        device: &Device,
        floor: u32,
        next: u32,
    ) {
        let began = Instant::now();
        let Some(renderer) = self.take_back(output, shared) else {
            return;
        };
        let renderer = match device.start(renderer, device.config(next)) {
            Ok(running) => {
                *output = Some(running);
                return self.reopened(shared, (floor, next), began, None);
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
    }

    /// Stops `output` and takes its renderer back: stopping the stream joins cpal's
    /// thread, which drops the callback. `None` (the output lost) if it does not come.
    fn take_back(&mut self, output: &mut Option<Running>, shared: &Shared) -> Option<Renderer> {
        drop(output.take());
        let renderer = self.back.recv_timeout(Duration::from_secs(2)).ok();
        if renderer.is_none() {
            self.lost(shared, "the stopped device stream kept its callback");
        }
        renderer
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
    fn two_device_underruns_within_the_window_call_for_a_longer_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut d = Dry::default();
        assert!(!d.note(0, t0), "none");
        assert!(!d.note(1, t0), "one alone is a hiccup");
        assert!(!d.note(1, t0 + 5 * s), "the same one");
        assert!(!d.note(2, t0 + WINDOW + s), "the next too long after");
        assert!(d.note(3, t0 + WINDOW + 2 * s), "two within the window");
        assert!(d.note(3, t0 + WINDOW + 3 * s), "due until acted on");
        d.acted(3);
        assert!(!d.note(3, t0 + WINDOW + 4 * s));
        assert!(d.note(5, t0 + WINDOW + 5 * s), "two at once");
    }
}
