//! What the stream task and the handle share with the playback thread: the messages they
//! send it, in order, and the state read without waiting for it.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::callback::Shared;
use super::echo_reference::ReferenceTap;
use super::interruption::Interruption;
use super::position::Tracker;
use crate::Error;
use crate::audio::priority::PrioritySlot;

/// What the stream task and the handle tell the thread, in order.
pub(crate) enum Msg {
    Audio {
        seq: u64,
        item_id: String,
        content_index: u32,
        response_id: String,
        rate: u32,
        samples: Vec<i16>,
        /// When the delta was received from the connection.
        arrived: Instant,
    },
    AudioDone {
        item_id: String,
    },
    ResponseStarted(String),
    ResponseDone(String),
    Interrupt(oneshot::Sender<Option<Interruption>>),
    Drain(oneshot::Sender<Result<(), Error>>),
    /// Over WebRTC: the server's playout started (`output_audio_buffer.started`) or
    /// ended (`stopped`, `cleared`); while it plays, more audio is on its way and a drain
    /// waits for it.
    ServerPlayout(bool),
}

/// State the handle and the stream task share with the thread (no locks on the audio path).
pub(crate) struct Control {
    pub shared: Arc<Shared>,
    /// Numbers audio messages as they are sent.
    pub seq: AtomicU64,
    /// Audio messages numbered up to this one are cleared.
    pub clear_upto: AtomicU64,
    /// Frames dropped because the queue was full.
    pub dropped: AtomicU64,
    /// The cushion held back after underruns, in ns.
    pub cushion_ns: AtomicU64,
    pub tracker: Mutex<Tracker>,
    pub reference: Mutex<ReferenceTap>,
    /// The playback thread (set once; read without a lock on every wake).
    pub thread: std::sync::OnceLock<std::thread::Thread>,
    /// What scheduling the playback thread got.
    pub thread_priority: PrioritySlot,
    pub device_rate: u32,
    /// The playback resampler's delay, in device frames.
    pub resampler_delay: u64,
}

impl Control {
    pub(crate) fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}
