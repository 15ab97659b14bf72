//! Real-time scheduling for the audio threads, where the system allows it.
//!
//! The playback and capture threads ask for `SCHED_FIFO` at a modest priority: high enough
//! that a busy machine (a build on every core) cannot starve them, below the audio server's
//! own threads (PipeWire runs its data loop at 88). Without the privilege (no
//! `CAP_SYS_NICE`, an `RLIMIT_RTPRIO` of 0) they fall back to the highest normal priority
//! they may take, and otherwise run as they are. Each thread does this once, when it
//! starts. Both sleep between short bursts of work, so they cannot starve the rest.
//!
//! The device callback threads are cpal's (or the audio server's) to schedule and are left
//! as they are: raised above the PipeWire ALSA plugin's own thread (to `SCHED_FIFO`, or
//! only to nice −20), cpal's ALSA thread spins on a buffer only that thread can fill, and
//! takes the CPU the rest needs.

use std::sync::atomic::{AtomicU8, Ordering};

/// What a thread got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Priority {
    /// Not tried yet.
    Unknown = 0,
    /// Real-time scheduling (`SCHED_FIFO`).
    RealTime = 1,
    /// A raised normal priority (a lower nice value).
    Raised = 2,
    /// The default: the system refused both.
    Normal = 3,
}

impl Priority {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Priority::RealTime,
            2 => Priority::Raised,
            3 => Priority::Normal,
            _ => Priority::Unknown,
        }
    }
}

/// A thread's outcome, shared with the handle that reports it.
#[derive(Debug, Default)]
pub(crate) struct PrioritySlot(AtomicU8);

impl PrioritySlot {
    pub(crate) fn get(&self) -> Priority {
        Priority::from_u8(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, p: Priority) {
        self.0.store(p as u8, Ordering::Relaxed);
    }
}

/// The `SCHED_FIFO` priority asked for (1–99 on Linux).
#[cfg(unix)]
const FIFO_PRIORITY: u8 = 10;

/// Raises the calling thread (see the module docs) and records what it got in `slot`.
pub(crate) fn promote_current(name: &str, slot: &PrioritySlot) -> Priority {
    let got = promote(thread_priority::thread_native_id());
    slot.set(got);
    tracing::debug!(thread = name, priority = ?got, "audio thread scheduling");
    got
}

#[cfg(unix)]
fn promote(id: thread_priority::ThreadId) -> Priority {
    use thread_priority::{
        NormalThreadSchedulePolicy, RealtimeThreadSchedulePolicy, ThreadPriority,
        ThreadPriorityValue, ThreadSchedulePolicy, set_thread_priority_and_policy,
    };
    let fifo = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
    let value = ThreadPriorityValue::try_from(FIFO_PRIORITY).map(ThreadPriority::Crossplatform);
    if let Ok(priority) = value
        && set_thread_priority_and_policy(id, priority, fifo).is_ok()
    {
        return Priority::RealTime;
    }
    let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    if set_thread_priority_and_policy(id, ThreadPriority::Max, normal).is_ok() {
        return Priority::Raised;
    }
    Priority::Normal
}

#[cfg(not(unix))]
fn promote(id: thread_priority::ThreadId) -> Priority {
    match thread_priority::set_thread_priority(id, thread_priority::ThreadPriority::Max) {
        Ok(()) => Priority::RealTime,
        Err(_) => Priority::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_the_best_it_may_and_says_so() {
        let slot = std::sync::Arc::new(PrioritySlot::default());
        assert_eq!(slot.get(), Priority::Unknown);
        let s = slot.clone();
        let got = std::thread::spawn(move || promote_current("test", &s))
            .join()
            .unwrap();
        assert_ne!(got, Priority::Unknown);
        assert_eq!(slot.get(), got);
    }
}
