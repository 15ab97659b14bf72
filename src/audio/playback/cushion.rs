//! The adaptive cushion: audio held back, on top of `prebuffer`, after the ring ran dry or
//! nearly did.
//!
//! Playback starts an item with the least it can hold back, so a quiet machine keeps the
//! least latency. Each underrun inside an item grows the cushion by how late the audio
//! came (plus a margin), whether the late audio finds the ring dry or was already on its
//! way as the callback ran dry (the thread notices then at the next delta). A starved
//! machine so glitches once per size of jitter, not on every delta.
//!
//! Most underruns are announced: audio that arrives just in time, paced as it is spoken,
//! comes with less than [`NEAR`] to spare now and then before it comes too late. Such a
//! near miss grows the cushion too (once an item), to [`MARGIN`] of spare time, so the
//! first glitch is usually avoided rather than learnt from. Audio that arrives ahead of
//! time never comes near, and costs nothing.

use std::time::{Duration, Instant};

/// After an underrun the cushion grows by how late the audio came plus this margin (up to
/// [`MAX`]): enough for that much jitter next time, without paying for more.
pub(crate) const MARGIN: Duration = Duration::from_millis(3);
/// The most the cushion grows to.
pub(crate) const MAX: Duration = Duration::from_millis(200);
/// Held back at every start on top of what audio arriving exactly in time needs, so that
/// at the callbacks' worst phase it still has this to spare: without it, the first few
/// replies of a session paced as spoken glitched now and then before the cushion grew.
pub(crate) const START: Duration = Duration::from_millis(1);
/// Audio that reaches the ring less than this before the callback that needs it is a
/// near miss.
pub(crate) const NEAR: Duration = Duration::from_millis(1);

/// The cushion and the underrun count it last acted on.
#[derive(Debug, Default)]
pub(crate) struct Cushion {
    held: Duration,
    seen: u64,
    /// A near miss was acted on in this item.
    near_missed: bool,
}

/// How long before the next callback audio reaching the ring now comes, if that callback
/// would run short without it: the ring holds `left` frames, a callback takes `period`
/// frames at `rate` Hz, and the last one ran at `last`. `None` when the ring has enough
/// for the next callback (or nothing is known of the callbacks yet).
pub(crate) fn spare(
    left: u64,
    period: u32,
    rate: u32,
    last: Instant,
    now: Instant,
) -> Option<Duration> {
    if period == 0 || rate == 0 || left >= u64::from(period) {
        return None;
    }
    let next = last + Duration::from_nanos(u64::from(period) * 1_000_000_000 / u64::from(rate));
    Some(next.saturating_duration_since(now))
}

impl Cushion {
    /// How much is held back now.
    pub(crate) fn get(&self) -> Duration {
        self.held
    }

    /// An item starts: underruns before it (the last one running out before its `done`)
    /// say nothing about how this one arrives.
    pub(crate) fn item_starts(&mut self, underruns: u64) {
        self.seen = underruns;
        self.near_missed = false;
    }

    /// Audio of the open item reached the ring `spare` before the callback that needed
    /// it: below [`NEAR`], grows the cushion so that the next start has [`MARGIN`] to
    /// spare (once an item; the spare time varies along an item with the callbacks'
    /// phase). Says whether it grew.
    pub(crate) fn near_miss(&mut self, spare: Duration) -> bool {
        if spare >= NEAR || self.near_missed {
            return false;
        }
        self.near_missed = true;
        self.held = (self.held + MARGIN.saturating_sub(spare)).min(MAX);
        true
    }

    /// Notes the callback's underrun count `underruns` (the last run of them starting at
    /// `dry_at`) when the open item's audio came at `came`. Grows the cushion by how late
    /// that was if the ring ran dry since the last look, and says whether it did.
    pub(crate) fn notice(&mut self, underruns: u64, dry_at: Instant, came: Instant) -> bool {
        if underruns <= self.seen {
            return false;
        }
        self.seen = underruns;
        let late = came.saturating_duration_since(dry_at);
        self.held = (self.held + late + MARGIN).min(MAX);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_by_how_late_the_audio_came() {
        let t0 = Instant::now();
        let mut c = Cushion::default();
        c.item_starts(0);
        assert!(!c.notice(0, t0, t0 + 50 * MS), "no underrun, no growth");
        assert_eq!(c.get(), Duration::ZERO);
        assert!(c.notice(1, t0, t0 + 50 * MS));
        assert_eq!(c.get(), 50 * MS + MARGIN);
        // The same underrun is acted on once.
        assert!(!c.notice(1, t0, t0 + 90 * MS));
        assert!(c.notice(3, t0 + 100 * MS, t0 + 120 * MS));
        assert_eq!(c.get(), 70 * MS + 2 * MARGIN);
    }

    #[test]
    fn audio_on_its_way_while_the_ring_ran_dry_still_counts() {
        // The delta arrived just before the callback starved, but reached the ring just
        // after: the underrun is real though nothing came after it.
        let t0 = Instant::now();
        let mut c = Cushion::default();
        c.item_starts(0);
        assert!(c.notice(1, t0 + MS, t0));
        assert_eq!(c.get(), MARGIN);
    }

    #[test]
    fn a_near_miss_grows_the_cushion_once_an_item() {
        let mut c = Cushion::default();
        c.item_starts(0);
        assert!(!c.near_miss(NEAR), "enough to spare");
        assert!(c.near_miss(MS / 4));
        assert_eq!(c.get(), MARGIN - MS / 4);
        assert!(!c.near_miss(Duration::ZERO), "once an item");
        c.item_starts(0);
        assert!(c.near_miss(Duration::ZERO));
        assert_eq!(c.get(), 2 * MARGIN - MS / 4);
    }

    #[test]
    fn spare_time_is_until_the_callback_that_would_run_short() {
        let t0 = Instant::now();
        // 480 frames at 48 kHz: the next callback 10 ms after the last.
        assert_eq!(spare(100, 480, 48_000, t0, t0 + 9 * MS), Some(MS));
        assert_eq!(
            spare(100, 480, 48_000, t0, t0 + 12 * MS),
            Some(Duration::ZERO)
        );
        assert_eq!(
            spare(480, 480, 48_000, t0, t0 + 9 * MS),
            None,
            "enough for it"
        );
        assert_eq!(spare(0, 0, 48_000, t0, t0), None, "no callback yet");
    }

    #[test]
    fn underruns_before_an_item_are_not_its_own() {
        let t0 = Instant::now();
        let mut c = Cushion::default();
        c.item_starts(4);
        assert!(!c.notice(4, t0, t0 + 10 * MS));
        assert_eq!(c.get(), Duration::ZERO);
    }

    #[test]
    fn is_capped() {
        let t0 = Instant::now();
        let mut c = Cushion::default();
        for n in 1..10 {
            c.notice(n, t0, t0 + 150 * MS);
        }
        assert_eq!(c.get(), MAX);
    }
}
