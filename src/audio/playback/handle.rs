//! The [`Playback`] handle: open, attach, control, report, stop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::control::{Control, Msg};
use super::echo_reference::EchoReference;
use super::interruption::{Interruption, send_interruption};
use super::options::PlaybackOptions;
use super::output::OutputInfo;
use super::position::ItemPosition;
use super::split::Split;
use super::thread;
use crate::Error;
use crate::audio::device;
use crate::audio::priority::Priority;
use crate::realtime::{EventReceiver, EventSender, WeakEventSender};

/// Playback counters, from [`Playback::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlaybackMetrics {
    /// Audio converted and waiting to be heard.
    pub queued: Duration,
    /// Audio the device callback has played since the start.
    pub played: Duration,
    /// Callbacks that ran out of audio in the middle of an item (the ring was empty).
    pub underruns: u64,
    /// Underruns the device reported itself: its buffer ran dry because the callback came
    /// late (the callback thread is the audio backend's; a starved machine shows here).
    /// Unless `buffer_frames` was set, a second one (or gap, below) within 30 s makes
    /// playback reopen the output with a longer period once nothing plays (see
    /// [`PlaybackOptions`](super::PlaybackOptions)).
    pub device_underruns: u64,
    /// Times the device's play times jumped ahead: audio lost between this process and
    /// the speaker, which the listener heard as a cut. An underrun the device reports
    /// usually shows here too; a loss it does not report shows only here, where the
    /// backend's play times show it. The larger of this and `device_underruns` counts
    /// towards a longer period.
    pub device_gaps: u64,
    /// The audio those gaps took out, in all.
    pub device_gap_time: Duration,
    /// Device callbacks so far.
    pub callbacks: u64,
    /// Frames in the last device callback (the period; it grows if the device runs dry).
    pub period_frames: u32,
    /// From a callback to its first frame leaving the device, as the device reports it.
    pub output_latency: Duration,
    /// The resampler's delay (the tail of each delta waits this long for the next).
    pub resampler_delay: Duration,
    /// For the last item that started from silence: from its first delta arriving to the
    /// device callback that played its first sample (includes the `prebuffer` hold).
    pub start_latency: Option<Duration>,
    /// The longest a callback has taken.
    pub max_callback: Duration,
    /// Audio dropped because `max_queued` was reached.
    pub dropped: Duration,
    /// Echo reference frames dropped because they were not read in time.
    pub reference_dropped: u64,
    /// The device stopped with an error.
    pub device_lost: bool,
    /// The audio held back after underruns, on top of `prebuffer`: 0 until an underrun,
    /// then after each one that much more as the audio came late, plus 3 ms (at most
    /// 200 ms); after a near miss (audio with less than 1 ms to spare), 3 ms less what
    /// was spared.
    pub cushion: Duration,
    /// Whether the playback thread got real-time scheduling (see
    /// [`Playback`]'s docs).
    pub realtime: bool,
}

/// Plays a session's audio: opened with [`open`](Self::open) (or by
/// [`stream`](super::stream)), fed by [`attach`](Self::attach).
///
/// Dropping it ends playback at once: the sound stops and the device is released shortly
/// after, on the playback thread; the drop itself never blocks (outside a runtime it
/// waits for the thread, which is then allowed). [`stop`](Self::stop) does the same and
/// waits until the device is released. The events of an attached session keep flowing
/// after a drop.
///
/// The playback thread and the device callback ask for real-time scheduling where the
/// system allows it (root, `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` above 0 on Linux; the
/// audio server's own threads stay above them); [`PlaybackMetrics::realtime`] tells.
pub struct Playback {
    control: Arc<Control>,
    tx: mpsc::Sender<Msg>,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
    info: OutputInfo,
    runtime: Handle,
    sender: Option<WeakEventSender>,
    barge_in: bool,
    forward_audio: bool,
    event_capacity: usize,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("output", &self.info)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Playback {
    /// Opens the output device (or WAV file) and starts the playback thread, which plays
    /// silence until a session is [attached](Self::attach).
    ///
    /// The device is opened on the playback thread, so the caller's async thread never
    /// waits on it. Opening first, before handing over a session's events, means a missing
    /// device costs nothing: fall back to another target (a WAV file, say) and attach the
    /// same receiver.
    ///
    /// ```no_run
    /// use vivavoce::audio::{OutputTarget, Playback, PlaybackOptions};
    /// use vivavoce::realtime::{connect, ConnectOptions};
    ///
    /// # async fn run() -> Result<(), vivavoce::Error> {
    /// let (tx, rx) = connect(ConnectOptions::default()).await?;
    /// let playback = match Playback::open(PlaybackOptions::new(tx.clone())).await {
    ///     Ok(p) => p,
    ///     Err(vivavoce::Error::NoAudioDevice { .. }) => {
    ///         let to_file = PlaybackOptions::new(tx.clone()).target(OutputTarget::wav("reply.wav"));
    ///         Playback::open(to_file).await?
    ///     }
    ///     Err(e) => return Err(e),
    /// };
    /// let mut events = playback.attach(rx);
    /// # let _ = events.recv().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for options that cannot work (before anything is opened),
    /// [`Error::NoRuntime`] outside a tokio runtime, [`Error::NoAudioDevice`] when there is
    /// no such output, [`Error::AudioDevice`] when it refuses the stream, [`Error::Wav`]
    /// when the file cannot be created.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped before it completes, the thread releases the device as soon as
    /// it has opened it.
    pub async fn open(mut options: PlaybackOptions) -> Result<Playback, Error> {
        options.validate()?;
        let runtime = Handle::try_current().map_err(|_| Error::NoRuntime {
            function: "audio::Playback::open",
        })?;
        let (tx, rx) = mpsc::channel(256);
        let (ready_tx, ready_rx) = oneshot::channel();
        // Only a weak sender is kept: playback never holds the connection open.
        let sender = options.sender.take().map(|s| s.downgrade());
        let (barge_in, forward_audio, event_capacity) = (
            options.barge_in,
            options.forward_audio,
            options.event_capacity,
        );
        let join = device::spawn("vivavoce-playback", "playback", move || {
            thread::run(options, rx, ready_tx)
        })?;
        let started = match ready_rx.await {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::PlaybackStopped), // the thread died
        };
        Ok(Playback {
            control: started.control,
            tx,
            join: Mutex::new(Some(join)),
            info: started.info,
            runtime,
            sender,
            barge_in,
            forward_audio,
            event_capacity,
        })
    }

    /// Plays the audio of a session's events and hands back every other event, in order.
    ///
    /// `response.output_audio.delta` events are decoded (PCM16, or G.711 μ-law/A-law when
    /// the session says so) and played; all other events come out of the returned receiver
    /// in their original order (audio deltas too, with
    /// [`forward_audio`](PlaybackOptions::forward_audio)). With barge-in on (the default)
    /// and [`sender`](PlaybackOptions::sender) set, `input_audio_buffer.speech_started`
    /// during assistant audio stops the sound within one device period and sends
    /// `conversation.item.truncate` with what was actually heard (and `response.cancel` if
    /// the session's turn detection does not cancel responses itself).
    ///
    /// A task between the two receivers does this. It never holds the connection open:
    /// it ends when the session's events end, or once both the returned receiver and this
    /// `Playback` are dropped (dropping only the receiver keeps the audio playing; dropping
    /// only the `Playback` keeps the events flowing). When the returned receiver is full
    /// ([`event_capacity`](PlaybackOptions::event_capacity)), it stops reading the session
    /// (audio stops arriving too) until you read.
    pub fn attach(&self, events: EventReceiver) -> EventReceiver {
        let (out_tx, out_rx) = mpsc::channel(self.event_capacity);
        let split = Split::new(
            self.tx.clone(),
            self.control.clone(),
            self.sender.clone(),
            self.barge_in,
            self.forward_audio,
        );
        self.runtime.spawn(split.run(events, out_tx));
        EventReceiver::new(out_rx)
    }

    /// The device (or file) and configuration playing.
    pub fn output(&self) -> &OutputInfo {
        &self.info
    }

    /// Ends playback now and waits until the device is released (a WAV file is then
    /// complete). Idempotent.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: playback stops whether or not the future is polled to the end.
    pub async fn stop(&self) {
        let Some(join) = self.begin_stop() else {
            return;
        };
        let _ = self.runtime.spawn_blocking(move || join.join()).await;
    }

    /// Raises the stop flag; the thread's handle, the first time.
    fn begin_stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.control.shared.stop.store(true, Ordering::Release);
        self.control.wake();
        self.join.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Resolves when everything handed to playback so far has been heard (or cleared).
    ///
    /// Call it after `response.done` to wait for the end of the spoken reply. Over WebRTC
    /// (`realtime::webrtc`, feature `webrtc`, where the reply keeps arriving on
    /// the track after `response.done`) it also waits for the server's
    /// `output_audio_buffer.stopped`, and for what arrived by then to be heard.
    ///
    /// # Errors
    ///
    /// [`Error::PlaybackStopped`] if playback stops first, [`Error::AudioDevice`] if the
    /// device fails first.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future only stops waiting.
    pub async fn drain(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Drain(reply)).await?;
        rx.await.map_err(|_| Error::PlaybackStopped)?
    }

    /// Stops the sound now: audio queued or still arriving for the current response is
    /// dropped; the next response plays normally. Takes effect within one device period.
    pub fn clear(&self) {
        let upto = self.control.seq.load(Ordering::Acquire);
        self.control
            .clear_upto
            .fetch_max(upto.max(1), Ordering::AcqRel);
        self.control.wake();
    }

    /// Clears playback like [`clear`](Self::clear) and tells the server what was heard:
    /// `conversation.item.truncate` at the played time (see
    /// [`Interruption::audio_end_ms`]) and, if the response is still in progress,
    /// `response.cancel`. For push-to-talk apps; with server VAD, barge-in does this.
    /// Returns what was cut, or `None` if nothing was playing.
    ///
    /// # Errors
    ///
    /// [`Error::PlaybackStopped`] after playback stopped; the sender's errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: once the sound is cut, dropping the future may leave the truncate
    /// unsent.
    pub async fn interrupt(&self, sender: &EventSender) -> Result<Option<Interruption>, Error> {
        let cut = self.cut().await?;
        if let Some(cut) = &cut {
            send_interruption(sender, cut, true).await?;
        }
        Ok(cut)
    }

    pub(crate) async fn cut(&self) -> Result<Option<Interruption>, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Interrupt(reply)).await?;
        rx.await.map_err(|_| Error::PlaybackStopped)
    }

    /// Pauses: the device plays silence and the queue waits.
    pub fn pause(&self) {
        self.control.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.control.shared.paused.store(false, Ordering::Relaxed);
    }

    /// Whether playback is paused.
    pub fn is_paused(&self) -> bool {
        self.control.shared.paused.load(Ordering::Relaxed)
    }

    /// Sets the volume (1.0 = as received; clamped to 0.0 ..= 4.0).
    pub fn set_volume(&self, volume: f32) {
        let v = if volume.is_nan() {
            0.0
        } else {
            volume.clamp(0.0, 4.0)
        };
        self.control
            .shared
            .volume
            .store(v.to_bits(), Ordering::Relaxed);
    }

    /// The volume.
    pub fn volume(&self) -> f32 {
        self.control.shared.volume()
    }

    /// How much of an item has been heard, counted by the device callback to the sample.
    pub fn position(&self, item_id: &str) -> Option<ItemPosition> {
        self.positions().position(item_id)
    }

    /// A handle on the items' positions that can be kept apart from the `Playback` (by
    /// the conversation layer, `realtime::conversation` with feature `conversation`,
    /// say). It reports what was heard until the playback ends.
    pub fn positions(&self) -> PlaybackPositions {
        PlaybackPositions {
            control: self.control.clone(),
        }
    }

    /// The far-end reference for an echo canceller: what the device played, at 24 kHz
    /// mono, with play times. The first call gets it; later calls get `None`. Hand it to
    /// [`CaptureOptions::reference`](crate::audio::CaptureOptions::reference).
    pub fn echo_reference(&self) -> Option<EchoReference> {
        self.control
            .reference
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Counters for UIs and logs.
    pub fn metrics(&self) -> PlaybackMetrics {
        let s = &*self.control.shared;
        let rate = u64::from(self.control.device_rate.max(1));
        let d = |frames: u64| Duration::from_nanos(frames * 1_000_000_000 / rate);
        let produced = s.produced.load(Ordering::Acquire);
        let consumed = s.consumed.load(Ordering::Acquire);
        PlaybackMetrics {
            queued: d(produced.saturating_sub(consumed)),
            played: d(s.heard.load(Ordering::Acquire)),
            underruns: s.underruns.load(Ordering::Relaxed),
            device_underruns: s.xruns.load(Ordering::Relaxed),
            device_gaps: s.device_gaps.load(Ordering::Relaxed),
            device_gap_time: Duration::from_nanos(s.device_gap_ns.load(Ordering::Relaxed)),
            callbacks: s.callbacks.load(Ordering::Relaxed),
            period_frames: s.period.load(Ordering::Relaxed),
            output_latency: Duration::from_nanos(s.output_latency_ns.load(Ordering::Relaxed)),
            resampler_delay: d(self.control.resampler_delay),
            start_latency: {
                let hit = s.watch_hit_ns.load(Ordering::Acquire);
                let arrival = s.watch_arrival_ns.load(Ordering::Acquire);
                (hit >= arrival && hit > 0).then(|| Duration::from_nanos(hit - arrival))
            },
            max_callback: Duration::from_nanos(s.max_callback_ns.load(Ordering::Relaxed)),
            dropped: d(self.control.dropped.load(Ordering::Relaxed)),
            reference_dropped: s.tap_overflows.load(Ordering::Relaxed),
            device_lost: s.device_lost.load(Ordering::Relaxed),
            cushion: Duration::from_nanos(self.control.cushion_ns.load(Ordering::Relaxed)),
            realtime: self.control.thread_priority.get() == Priority::RealTime,
        }
    }

    async fn send(&self, msg: Msg) -> Result<(), Error> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| Error::PlaybackStopped)?;
        self.control.wake();
        Ok(())
    }
}

/// The items' positions in a [`Playback`], from [`Playback::positions`].
#[derive(Clone)]
pub struct PlaybackPositions {
    control: Arc<Control>,
}

impl std::fmt::Debug for PlaybackPositions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackPositions").finish_non_exhaustive()
    }
}

impl PlaybackPositions {
    /// How much of an item has been heard (as [`Playback::position`]).
    pub fn position(&self, item_id: &str) -> Option<ItemPosition> {
        let consumed = self.control.shared.consumed.load(Ordering::Acquire);
        let t = self
            .control
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        t.position(item_id, consumed, self.control.device_rate)
    }
}

#[cfg(feature = "conversation")]
impl crate::realtime::conversation::PlayedAudio for PlaybackPositions {
    fn played(&self, item_id: &str) -> Option<crate::realtime::conversation::PlayedItem> {
        let p = self.position(item_id)?;
        Some(crate::realtime::conversation::PlayedItem::new(
            p.played,
            p.received,
            p.first_arrived,
            p.first_heard,
            p.interrupted,
        ))
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        if let Some(join) = self.begin_stop() {
            device::finish_off_thread(join);
        }
    }
}
