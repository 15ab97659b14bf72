//! [`stream`]: splits audio off a session's events and plays it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::feeder::{Control, Feeder, Msg};
use super::playback::{Playback, PlaybackOptions, send_interruption};
use super::reference::ReferenceTap;
use super::render::{Renderer, Shared};
use super::resample::Converter;
use super::{device, output};
use crate::Error;
use crate::realtime::events::{AudioFormat, TurnDetection};
use crate::realtime::{EventReceiver, EventSender, ServerEvent, Session, codec};

/// Plays a session's audio and hands back every other event.
///
/// `response.output_audio.delta` events are decoded (PCM16, or G.711 μ-law/A-law when
/// the session says so) and played on a native output through a real-time thread; all
/// other events come out of the returned receiver in their original order. With barge-in
/// on (the default) and `options.sender` set, `input_audio_buffer.speech_started` during
/// assistant audio stops the sound within one device period and sends
/// `conversation.item.truncate` with what was actually heard (and `response.cancel` if
/// the session's turn detection does not cancel responses itself).
///
/// Opens the device before returning, so a missing device is an error here
/// ([`Error::NoAudioDevice`]). Must be called inside a tokio runtime. Dropping the
/// [`Playback`] stops the sound and releases the device; the events keep flowing.
///
/// ```no_run
/// use vivavoce::audio::{stream, PlaybackOptions};
/// use vivavoce::realtime::{connect, ConnectOptions, ServerEvent};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let (tx, rx) = connect(ConnectOptions::default()).await?;
/// let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()))?;
/// while let Some(event) = events.recv().await {
///     if let ServerEvent::ResponseDone(_) = event {
///         playback.drain().await?; // the reply has been heard
///     }
/// }
/// # Ok(()) }
/// ```
pub fn stream(
    receiver: EventReceiver,
    options: PlaybackOptions,
) -> Result<(EventReceiver, Playback), Error> {
    options.validate()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::NoRuntime {
            function: "audio::stream",
        });
    }
    let shared = Arc::new(Shared::new(options.volume));
    let opened = output::open(
        &options.target,
        options.sample_rate,
        options.buffer_frames,
        shared.clone(),
    )?;
    let info = opened.info.clone();
    let rate = info.sample_rate;
    let (ring_tx, ring_rx) = rtrb::RingBuffer::new(rate as usize * 2);
    let (tap_tx, tap_rx) = rtrb::RingBuffer::new(rate as usize);
    let (marks_tx, marks_rx) = rtrb::RingBuffer::new(512);
    let renderer = Renderer::new(
        ring_rx,
        shared.clone(),
        usize::from(info.channels),
        tap_tx,
        marks_tx,
    );
    let converter = Converter::new(24_000, rate)?;
    let reference = ReferenceTap::new(tap_rx, marks_rx, shared.clone(), rate)?;
    let out = opened.start(renderer)?;
    let control = Arc::new(Control {
        shared,
        seq: 0.into(),
        clear_upto: 0.into(),
        dropped: 0.into(),
        tracker: Mutex::default(),
        reference: Mutex::new(reference),
        thread: std::sync::OnceLock::new(),
        device_rate: rate,
        resampler_delay: converter.delay_frames() as u64,
    });
    let (tx, rx) = mpsc::channel(256);
    let frames = |d: std::time::Duration| (d.as_secs_f64() * f64::from(rate)) as usize;
    let feeder = Feeder {
        rx,
        control: control.clone(),
        ring: ring_tx,
        converter,
        max_queue: frames(options.max_queued),
        prebuffer: options.prebuffer,
        output: out,
        queue: Default::default(),
        produced: 0,
        written: 0,
        segment: None,
        hold: None,
        active: Vec::new(),
        cancelled: Default::default(),
        cleared: 0,
        drains: Vec::new(),
        scratch: Vec::new(),
        converted: Vec::new(),
        last_callbacks: (0, std::time::Instant::now()),
    };
    let join = device::spawn("vivavoce-playback", &info.name, move || feeder.run())?;
    let _ = control.thread.set(join.thread().clone());
    let (evt_tx, evt_rx) = mpsc::channel(options.event_capacity);
    let split = Split {
        tx: tx.clone(),
        control: control.clone(),
        sender: options.sender.clone(),
        barge_in: options.barge_in,
        forward_audio: options.forward_audio,
        format: AudioFormat::Pcm { rate: None },
        auto_interrupt: true,
    };
    tokio::spawn(split.run(receiver, evt_tx));
    Ok((
        EventReceiver::new(evt_rx),
        Playback {
            control,
            tx,
            join: Mutex::new(Some(join)),
            info,
        },
    ))
}

/// The task between the connection and the caller.
struct Split {
    tx: mpsc::Sender<Msg>,
    control: Arc<Control>,
    sender: Option<EventSender>,
    barge_in: bool,
    forward_audio: bool,
    format: AudioFormat,
    /// Whether the server cancels a response itself when the user starts speaking.
    auto_interrupt: bool,
}

impl Split {
    async fn run(mut self, mut input: EventReceiver, out: mpsc::Sender<ServerEvent>) {
        let mut listening = true;
        while let Some(event) = input.recv().await {
            let forward = self.observe(&event).await;
            if forward && listening && out.send(event).await.is_err() {
                // Nobody reads the events any more; keep playing the audio.
                listening = false;
            }
        }
    }

    /// Acts on one event; returns whether the caller should see it.
    async fn observe(&mut self, event: &ServerEvent) -> bool {
        match event {
            ServerEvent::ResponseOutputAudioDelta(d) => {
                let arrived = std::time::Instant::now();
                let decoded = match self.format {
                    AudioFormat::Pcmu | AudioFormat::Pcma => d.bytes().map(|b| {
                        let f = if self.format == AudioFormat::Pcmu {
                            codec::ulaw_decode
                        } else {
                            codec::alaw_decode
                        };
                        (8_000, b.into_iter().map(f).collect())
                    }),
                    AudioFormat::Pcm { rate } => {
                        let mut pcm = Vec::with_capacity(d.delta.len() * 3 / 8);
                        d.pcm16_into(&mut pcm)
                            .map(|()| (rate.unwrap_or(24_000), pcm))
                    }
                };
                let (rate, samples) = match decoded {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, item_id = %d.item_id, "audio delta not played");
                        return true; // passed on so it is not lost silently
                    }
                };
                let seq = self.control.seq.fetch_add(1, Ordering::AcqRel) + 1;
                self.to_player(Msg::Audio {
                    seq,
                    item_id: d.item_id.clone(),
                    content_index: d.content_index,
                    response_id: d.response_id.clone(),
                    rate,
                    samples,
                    arrived,
                })
                .await;
                return self.forward_audio;
            }
            ServerEvent::ResponseOutputAudioDone(d) => {
                let item_id = d.item_id.clone();
                self.to_player(Msg::AudioDone { item_id }).await;
            }
            ServerEvent::ResponseCreated(r) => {
                if let Some(id) = &r.response.id {
                    self.to_player(Msg::ResponseStarted(id.clone())).await;
                }
            }
            ServerEvent::ResponseDone(r) => {
                if let Some(id) = &r.response.id {
                    self.to_player(Msg::ResponseDone(id.clone())).await;
                }
            }
            ServerEvent::SessionCreated(s) => self.session(&s.session),
            ServerEvent::SessionUpdated(s) => self.session(&s.session),
            ServerEvent::InputAudioBufferSpeechStarted(_) if self.barge_in => self.barge_in().await,
            _ => {}
        }
        true
    }

    fn session(&mut self, s: &Session) {
        let Some(audio) = &s.audio else { return };
        if let Some(f) = audio.output.as_ref().and_then(|o| o.format) {
            self.format = f;
        }
        match audio.input.as_ref().and_then(|i| i.turn_detection.as_ref()) {
            Some(Some(TurnDetection::ServerVad(v))) => {
                self.auto_interrupt = v.interrupt_response.unwrap_or(true);
            }
            Some(Some(TurnDetection::SemanticVad(v))) => {
                self.auto_interrupt = v.interrupt_response.unwrap_or(true);
            }
            Some(None) => self.auto_interrupt = false,
            _ => {}
        }
    }

    async fn barge_in(&mut self) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.to_player(Msg::Interrupt(reply)).await;
        let Ok(Some(cut)) = rx.await else { return };
        tracing::debug!(item_id = %cut.item_id, audio_end_ms = ?cut.audio_end_ms, "barge-in");
        if let Some(sender) = &self.sender
            && let Err(e) = send_interruption(sender, &cut, !self.auto_interrupt).await
        {
            tracing::warn!(error = %e, "barge-in: could not send the truncate");
        }
    }

    async fn to_player(&self, msg: Msg) {
        if self.tx.send(msg).await.is_ok() {
            self.control.wake();
        }
    }
}
