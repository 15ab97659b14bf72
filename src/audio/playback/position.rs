//! Played-position tracking: which item each ring position belongs to.
//!
//! The feeder gives every item a range of ring positions as its audio is converted
//! (positions map one to one to the item's own timeline, see `resample`). The callback
//! counts the positions it has played; an item's played time is the part of its range
//! below that count. Nothing here guesses from wall-clock time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many finished items are remembered for [`crate::audio::Playback::position`].
const KEEP: usize = 64;

/// Where an item's audio is in the playback timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub item_id: String,
    pub content_index: u32,
    pub response_id: String,
    /// First ring position of the item.
    pub start: u64,
    /// One past its last ring position so far.
    pub end: u64,
    /// Audio received for the item, in samples at `rate`.
    pub received: u64,
    pub rate: u32,
    /// No more audio will be added (done, cut or superseded).
    pub closed: bool,
    /// Cut short by a clear at this many played frames.
    pub cut: bool,
    /// When its first audio arrived.
    pub first_arrived: Option<Instant>,
    /// When its first frame was heard (stamped by the feeder, see [`Tracker::stamp_heard`]).
    pub first_heard: Option<Instant>,
}

/// How much of an item has been heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemPosition {
    /// The item's content part.
    pub content_index: u32,
    /// Audio the device callback has played, to the sample.
    pub played: Duration,
    /// Audio received from the server for this item.
    pub received: Duration,
    /// Whether playback of this item was cut short by a clear or an interruption.
    pub interrupted: bool,
    /// When its first audio arrived from the server.
    pub first_arrived: Option<Instant>,
    /// When its first sample was heard: the callback's count and the device's output
    /// latency, to within a device period.
    pub first_heard: Option<Instant>,
}

/// The item table kept by the feeder (behind a mutex shared with the handle; the device
/// callback never touches it).
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    entries: VecDeque<Entry>,
}

impl Tracker {
    /// The open entry for this item, opening one at `position` if needed. Returns `None` if
    /// the item was cut (its late audio must be dropped).
    pub(crate) fn open(
        &mut self,
        item_id: &str,
        content_index: u32,
        response_id: &str,
        rate: u32,
        position: u64,
    ) -> Option<&mut Entry> {
        let found = self
            .entries
            .iter()
            .rposition(|e| e.item_id == item_id && e.content_index == content_index);
        match found {
            Some(i) if self.entries[i].cut => None,
            Some(i) if !self.entries[i].closed => Some(&mut self.entries[i]),
            _ => {
                if self.entries.len() == KEEP {
                    self.entries.pop_front();
                }
                self.entries.push_back(Entry {
                    item_id: item_id.to_owned(),
                    content_index,
                    response_id: response_id.to_owned(),
                    start: position,
                    end: position,
                    received: 0,
                    rate,
                    closed: false,
                    cut: false,
                    first_arrived: None,
                    first_heard: None,
                });
                self.entries.back_mut()
            }
        }
    }

    /// The most recent entry still open.
    pub(crate) fn current(&mut self) -> Option<&mut Entry> {
        self.entries.back_mut().filter(|e| !e.closed)
    }

    /// Closes every open entry (their audio is complete).
    pub(crate) fn close_all(&mut self) {
        for e in &mut self.entries {
            e.closed = true;
        }
    }

    /// The item being heard at `consumed`: the last entry whose range is not yet fully
    /// played, or the last open one (its audio may still be on the way).
    pub(crate) fn playing(&self, consumed: u64) -> Option<&Entry> {
        let last = self.entries.back()?;
        if last.cut {
            return None;
        }
        if consumed < last.end || !last.closed {
            // Earlier entries may still be playing if several are queued.
            return self
                .entries
                .iter()
                .find(|e| !e.cut && consumed < e.end)
                .or(Some(last));
        }
        None
    }

    /// Cuts every entry at `heard` (the callback's exact count when the clear took
    /// effect): their ranges end there and later audio for them is dropped.
    pub(crate) fn cut_at(&mut self, heard: u64) {
        for e in &mut self.entries {
            if !e.cut && (heard < e.end || !e.closed) {
                e.end = heard.clamp(e.start, e.end);
                e.cut = true;
                e.closed = true;
            }
        }
    }

    /// The item's position given the callback's count.
    pub(crate) fn position(
        &self,
        item_id: &str,
        consumed: u64,
        device_rate: u32,
    ) -> Option<ItemPosition> {
        let e = self.entries.iter().rev().find(|e| e.item_id == item_id)?;
        Some(ItemPosition {
            content_index: e.content_index,
            played: frames(played_frames(e, consumed), device_rate),
            received: frames(e.received, e.rate),
            interrupted: e.cut,
            first_arrived: e.first_arrived,
            first_heard: e.first_heard,
        })
    }

    /// Stamps when each item's first frame was heard, now that the callback has taken
    /// `consumed` frames. `exact` is a ring position and the instant its frame left the
    /// callback, as the callback timed it; any other frame `start` is taken to have left
    /// `consumed - start` frames ago, which holds while the device takes frames in real time.
    /// Either way the frame is heard `latency` after it left, and never before it arrived.
    pub(crate) fn stamp_heard(
        &mut self,
        consumed: u64,
        now: Instant,
        latency: Duration,
        rate: u32,
        exact: Option<(u64, Instant)>,
    ) {
        for e in &mut self.entries {
            if e.first_heard.is_none() && e.end > e.start && consumed > e.start {
                let left = match exact {
                    Some((pos, at)) if pos == e.start => at,
                    _ => {
                        let ago = frames(consumed - e.start, rate);
                        now.checked_sub(ago).unwrap_or(now)
                    }
                };
                let heard = left + latency;
                e.first_heard = Some(e.first_arrived.map_or(heard, |a| heard.max(a)));
            }
        }
    }
}

/// Frames of the entry played by the time the callback had taken `consumed`.
pub(crate) fn played_frames(e: &Entry, consumed: u64) -> u64 {
    consumed.clamp(e.start, e.end) - e.start
}

fn frames(n: u64, rate: u32) -> Duration {
    Duration::from_nanos(n * 1_000_000_000 / u64::from(rate.max(1)))
}

/// The `audio_end_ms` to truncate an item at: the played time in whole ms, clamped to the
/// audio received, and at least 1 ms for an item that played at all (the API rejects both
/// an end past the audio it sent and 0). `None` when nothing of the item was heard.
pub(crate) fn audio_end_ms(played: u64, device_rate: u32, received: u64, rate: u32) -> Option<u64> {
    if played == 0 {
        return None;
    }
    let ms = played * 1000 / u64::from(device_rate.max(1));
    let received_ms = received * 1000 / u64::from(rate.max(1));
    Some(ms.min(received_ms).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_played_time() {
        let mut t = Tracker::default();
        let e = t.open("a", 0, "r", 24_000, 0).unwrap();
        e.end = 48_000;
        e.received = 24_000;
        assert_eq!(t.playing(100).unwrap().item_id, "a");
        let p = t.position("a", 24_000, 48_000).unwrap();
        assert_eq!(p.played, Duration::from_millis(500));
        assert_eq!(p.received, Duration::from_secs(1));
        t.close_all();
        assert!(t.playing(48_000).is_none(), "fully heard and closed");
        let e = t.open("b", 0, "r", 24_000, 48_000).unwrap();
        assert_eq!(e.start, 48_000);
        e.end = 60_000;
        assert_eq!(
            t.playing(10).unwrap().item_id,
            "a",
            "a still queued ahead of b"
        );
        assert_eq!(t.playing(50_000).unwrap().item_id, "b");
    }

    #[test]
    fn first_heard_is_when_the_first_frame_left_plus_the_latency() {
        let mut t = Tracker::default();
        t.open("a", 0, "r", 24_000, 48_000).unwrap().end = 96_000;
        let now = Instant::now();
        let latency = Duration::from_millis(20);
        t.stamp_heard(48_000, now, latency, 48_000, None);
        assert_eq!(
            t.position("a", 48_000, 48_000).unwrap().first_heard,
            None,
            "not yet"
        );
        t.stamp_heard(48_000 + 4_800, now, latency, 48_000, None);
        let heard = t
            .position("a", 52_800, 48_000)
            .unwrap()
            .first_heard
            .unwrap();
        assert_eq!(heard, now - Duration::from_millis(100) + latency);
        // Stamped once.
        t.stamp_heard(96_000, now + Duration::from_secs(1), latency, 48_000, None);
        assert_eq!(
            t.position("a", 96_000, 48_000).unwrap().first_heard,
            Some(heard)
        );
    }

    #[test]
    fn the_callbacks_own_timing_beats_counting_back_from_now() {
        // The device took 100 ms of frames at once (it refilled its buffer after a
        // stall): counting back from now would put the first frame before it arrived.
        let mut t = Tracker::default();
        let arrived = Instant::now();
        let e = t.open("a", 0, "r", 24_000, 0).unwrap();
        e.end = 48_000;
        e.first_arrived = Some(arrived);
        let left = arrived + Duration::from_millis(30);
        let now = left + Duration::from_millis(2);
        let latency = Duration::from_millis(20);
        t.stamp_heard(4_800, now, latency, 48_000, Some((0, left)));
        let p = t.position("a", 4_800, 48_000).unwrap();
        assert_eq!(p.first_heard, Some(left + latency));
        // Timed for another position: the count back is kept from preceding the arrival.
        let mut t = Tracker::default();
        let e = t.open("b", 0, "r", 24_000, 100).unwrap();
        e.end = 48_000;
        e.first_arrived = Some(arrived);
        t.stamp_heard(4_900, now, Duration::ZERO, 48_000, Some((0, left)));
        let p = t.position("b", 4_900, 48_000).unwrap();
        assert_eq!(p.first_heard, Some(arrived));
    }

    #[test]
    fn cut_items_drop_late_audio() {
        let mut t = Tracker::default();
        t.open("a", 0, "r", 24_000, 0).unwrap().end = 1000;
        t.cut_at(400);
        assert!(t.open("a", 0, "r", 24_000, 1000).is_none());
        let p = t.position("a", 10_000, 24_000).unwrap();
        assert_eq!(p.played, Duration::from_nanos(400 * 1_000_000_000 / 24_000));
        assert!(p.interrupted);
        assert!(t.playing(10_000).is_none());
        // The next response's item opens normally.
        assert!(t.open("b", 0, "r2", 24_000, 1000).is_some());
    }

    #[test]
    fn truncate_end_is_clamped_and_never_zero() {
        assert_eq!(audio_end_ms(0, 48_000, 24_000, 24_000), None);
        assert_eq!(audio_end_ms(10, 48_000, 24_000, 24_000), Some(1));
        assert_eq!(audio_end_ms(48_000, 48_000, 24_000, 24_000), Some(1000));
        // Played more than received (rounding at the edges): clamped.
        assert_eq!(audio_end_ms(48_100, 48_000, 24_000, 24_000), Some(1000));
        assert_eq!(audio_end_ms(44_100, 44_100, 12_000, 24_000), Some(500));
    }
}
