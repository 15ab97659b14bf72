//! Turn latency: from the end of the user's speech to the response's creation, its first
//! audio, the first sample of it heard, and its end; running percentiles; and the
//! latency budget's alerts.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::event::{LatencyAlert, LatencyLevel, TurnLatency};
use crate::time::std_after;

/// What a player knows of an item's audio: lets the layer time the first sample heard
/// and cut a transcript at the heard position. [`audio::Playback`] gives one with
/// `positions()`.
///
/// [`audio::Playback`]: https://docs.rs/vivavoce/latest/vivavoce/audio/struct.Playback.html
pub trait PlayedAudio: Send + Sync + 'static {
    /// The item's audio so far, or `None` when the player has none of it.
    fn played(&self, item_id: &str) -> Option<PlayedItem>;
}

/// An item's audio in a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlayedItem {
    /// Audio heard so far.
    pub played: Duration,
    /// Audio received from the server.
    pub received: Duration,
    /// When its first audio arrived at the player.
    pub first_arrived: Option<Instant>,
    /// When its first sample was heard.
    pub first_heard: Option<Instant>,
    /// Whether its playback was cut short.
    pub interrupted: bool,
}

impl PlayedItem {
    /// An item's audio: `played` of `received`, with the times of its first arrival and
    /// first heard sample.
    pub fn new(
        played: Duration,
        received: Duration,
        first_arrived: Option<Instant>,
        first_heard: Option<Instant>,
        interrupted: bool,
    ) -> Self {
        PlayedItem {
            played,
            received,
            first_arrived,
            first_heard,
            interrupted,
        }
    }
}

/// Percentiles of one latency over the recent turns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Percentiles {
    /// Turns measured.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Percentiles {
    fn of(values: impl Iterator<Item = Duration>) -> Self {
        let mut v: Vec<Duration> = values.collect();
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_unstable();
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Percentiles {
            count: v.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// Running percentiles of the recent turns' latencies (see [`TurnLatency`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyStats {
    /// Until `response.created`.
    pub created: Percentiles,
    /// Until the first delta.
    pub first_delta: Percentiles,
    /// Until the first sample heard.
    pub first_heard: Percentiles,
    /// Until `response.done`.
    pub done: Percentiles,
    /// What the user waited for.
    pub wait: Percentiles,
}

/// Turns kept for the percentiles.
const WINDOW: usize = 512;
/// How long a finished response waits for its first sample to be heard.
const HEARD_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Turn {
    start: Instant,
    created: Instant,
    first_delta: Option<Instant>,
    first_heard: Option<Instant>,
    done: Option<Instant>,
    /// Its audio items (for the player's times).
    audio_items: Vec<String>,
}

#[derive(Debug)]
struct Waiting {
    start: Instant,
    response_id: Option<String>,
    warned: bool,
    exceeded: bool,
}

#[derive(Debug)]
pub(crate) struct Turns {
    start: Option<Instant>,
    turns: HashMap<String, Turn>,
    /// Finished responses whose first heard sample is still to come.
    finishing: Vec<String>,
    recent: VecDeque<TurnLatency>,
    waiting: Option<Waiting>,
    budget: Option<(Duration, Duration)>,
    pub(crate) played: Option<std::sync::Arc<dyn PlayedAudio>>,
}

impl std::fmt::Debug for dyn PlayedAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlayedAudio")
    }
}

impl Turns {
    pub(crate) fn new(
        budget: Option<(Duration, Duration)>,
        played: Option<std::sync::Arc<dyn PlayedAudio>>,
    ) -> Self {
        Turns {
            start: None,
            turns: HashMap::new(),
            finishing: Vec::new(),
            recent: VecDeque::new(),
            waiting: None,
            budget,
            played,
        }
    }

    /// The user stopped speaking (or committed), or the layer asked for a response.
    /// `speech` marks the end of speech, which a later request does not move.
    pub(crate) fn started(&mut self, now: Instant, speech: bool) {
        if !speech && self.start.is_some() {
            return;
        }
        self.start = Some(now);
        if self.budget.is_some() {
            self.waiting = Some(Waiting {
                start: now,
                response_id: None,
                warned: false,
                exceeded: false,
            });
        }
    }

    pub(crate) fn created(&mut self, id: &str, now: Instant) {
        let start = self.start.take().unwrap_or(now);
        if let Some(w) = &mut self.waiting
            && w.response_id.is_none()
        {
            w.response_id = Some(id.to_owned());
        }
        self.turns.insert(
            id.to_owned(),
            Turn {
                start,
                created: now,
                first_delta: None,
                first_heard: None,
                done: None,
                audio_items: Vec::new(),
            },
        );
    }

    /// The first audio (or text) of a response arrived.
    pub(crate) fn delta(&mut self, response_id: &str, item_id: &str, audio: bool, now: Instant) {
        let Some(t) = self.turns.get_mut(response_id) else {
            return;
        };
        if audio && !t.audio_items.iter().any(|i| i == item_id) {
            t.audio_items.push(item_id.to_owned());
        }
        if t.first_delta.is_none() {
            t.first_delta = Some(now);
            if self.played.is_none() || !audio {
                self.stop_waiting(response_id);
            }
        }
    }

    /// An audio item of a response that the layer did not see audio of (a playback took
    /// the deltas).
    pub(crate) fn audio_item(&mut self, response_id: &str, item_id: &str) {
        if let Some(t) = self.turns.get_mut(response_id)
            && !t.audio_items.iter().any(|i| i == item_id)
        {
            t.audio_items.push(item_id.to_owned());
        }
    }

    fn stop_waiting(&mut self, response_id: &str) {
        if self
            .waiting
            .as_ref()
            .is_some_and(|w| w.response_id.as_deref() == Some(response_id))
        {
            self.waiting = None;
        }
    }

    /// `response.done`: the turn's timing when complete (else it waits for the first
    /// sample to be heard; [`tick`](Self::tick) finishes it).
    pub(crate) fn done(&mut self, id: &str, now: Instant) -> Option<TurnLatency> {
        let t = self.turns.get_mut(id)?;
        t.done = Some(now);
        self.finish(id, now)
    }

    /// Finishes a turn if nothing more is to come.
    fn finish(&mut self, id: &str, now: Instant) -> Option<TurnLatency> {
        let t = self.turns.get_mut(id)?;
        let done = t.done?;
        if let Some(played) = &self.played {
            for item in &t.audio_items {
                if let Some(p) = played.played(item) {
                    // The player sees the events a task ahead of the layer: its arrival
                    // time may precede the layer's `response.created` by that hop.
                    let arrived = p.first_arrived.map(|a| a.max(t.created));
                    t.first_delta = match (t.first_delta, arrived) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if let Some(h) = p.first_heard {
                        t.first_heard = Some(t.first_heard.map_or(h, |x| x.min(h)));
                    }
                }
            }
            let heard_pending = !t.audio_items.is_empty()
                && t.first_heard.is_none()
                && now.saturating_duration_since(done) < HEARD_WAIT
                // Not heard yet, and not cut before a sample of it played (the feeder
                // stamps the time a few ms after the callback took the first frame).
                && t.audio_items.iter().any(|i| {
                    played
                        .played(i)
                        .is_none_or(|p| !(p.interrupted && p.played.is_zero()))
                });
            if heard_pending {
                if !self.finishing.iter().any(|f| f == id) {
                    self.finishing.push(id.to_owned());
                }
                return None;
            }
        }
        let t = self.turns.remove(id)?;
        self.finishing.retain(|f| f != id);
        self.stop_waiting(id);
        let since = |x: Instant| x.saturating_duration_since(t.start);
        let first_heard = t.first_heard.map(since);
        let first_delta = t.first_delta.map(since);
        let turn = TurnLatency {
            response_id: id.to_owned(),
            created: since(t.created),
            first_delta,
            first_heard,
            done: since(done),
            wait: first_heard.or(first_delta),
        };
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(turn.clone());
        Some(turn)
    }

    /// When [`tick`](Self::tick) should run next.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let (Some(w), Some((warn, limit))) = (&self.waiting, self.budget) {
            if !w.warned {
                at(std_after(w.start, warn));
            } else if !w.exceeded {
                at(std_after(w.start, limit));
            }
        }
        if self.played.is_some()
            && (!self.finishing.is_empty()
                || self
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.response_id.is_some()))
        {
            at(Instant::now() + Duration::from_millis(5));
        }
        next
    }

    /// Checks the budget and the player: alerts and finished turns.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        alerts: &mut Vec<LatencyAlert>,
        turns: &mut Vec<TurnLatency>,
    ) {
        // Heard yet?
        if let (Some(played), Some(w)) = (&self.played, &self.waiting)
            && let Some(id) = &w.response_id
            && let Some(t) = self.turns.get(id)
            && t.audio_items
                .iter()
                .any(|i| played.played(i).is_some_and(|p| p.first_heard.is_some()))
        {
            self.waiting = None;
        }
        if let (Some(w), Some((warn, limit))) = (&mut self.waiting, self.budget) {
            let waited = now.saturating_duration_since(w.start);
            if !w.warned && waited >= warn {
                w.warned = true;
                alerts.push(LatencyAlert {
                    response_id: w.response_id.clone(),
                    level: LatencyLevel::Warn,
                    threshold: warn,
                });
            }
            if !w.exceeded && waited >= limit {
                w.exceeded = true;
                alerts.push(LatencyAlert {
                    response_id: w.response_id.clone(),
                    level: LatencyLevel::Exceeded,
                    threshold: limit,
                });
            }
        }
        for id in self.finishing.clone() {
            if let Some(t) = self.finish(&id, now) {
                turns.push(t);
            }
        }
    }

    /// Percentiles over the recent turns.
    pub(crate) fn stats(&self) -> LatencyStats {
        let r = &self.recent;
        LatencyStats {
            created: Percentiles::of(r.iter().map(|t| t.created)),
            first_delta: Percentiles::of(r.iter().filter_map(|t| t.first_delta)),
            first_heard: Percentiles::of(r.iter().filter_map(|t| t.first_heard)),
            done: Percentiles::of(r.iter().map(|t| t.done)),
            wait: Percentiles::of(r.iter().filter_map(|t| t.wait)),
        }
    }

    /// A new server session: its turns are gone.
    pub(crate) fn reset(&mut self) {
        self.turns.clear();
        self.finishing.clear();
        self.waiting = None;
        self.start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_timed_from_the_end_of_speech() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut turns = Turns::new(None, None);
        turns.started(t0, true);
        turns.started(t0 + ms(5), false); // a later request does not move it
        turns.created("r", t0 + ms(100));
        turns.delta("r", "i", true, t0 + ms(300));
        turns.delta("r", "i", true, t0 + ms(400));
        let t = turns.done("r", t0 + ms(900)).unwrap();
        assert_eq!(t.created, ms(100));
        assert_eq!(t.first_delta, Some(ms(300)));
        assert_eq!(t.wait, Some(ms(300)));
        assert_eq!(t.done, ms(900));
        assert_eq!(turns.stats().done.count, 1);
    }

    #[test]
    fn the_budget_warns_then_says_exceeded() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut turns = Turns::new(Some((ms(200), ms(500))), None);
        turns.started(t0, true);
        let (mut alerts, mut done) = (Vec::new(), Vec::new());
        turns.tick(t0 + ms(100), &mut alerts, &mut done);
        assert!(alerts.is_empty());
        turns.tick(t0 + ms(250), &mut alerts, &mut done);
        turns.tick(t0 + ms(260), &mut alerts, &mut done);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].level, LatencyLevel::Warn);
        turns.created("r", t0 + ms(300));
        turns.tick(t0 + ms(600), &mut alerts, &mut done);
        assert_eq!(alerts[1].level, LatencyLevel::Exceeded);
        assert_eq!(alerts[1].response_id.as_deref(), Some("r"));
        // The first delta ends the wait: no more alerts.
        turns.delta("r", "i", true, t0 + ms(700));
        assert!(turns.next_wakeup().is_none());
    }

    #[test]
    fn percentiles() {
        let p = Percentiles::of((1..=100).map(Duration::from_millis));
        assert_eq!(p.count, 100);
        assert_eq!(p.p50, Duration::from_millis(51));
        assert_eq!(p.p90, Duration::from_millis(90));
        assert_eq!(p.max, Duration::from_millis(100));
    }
}
