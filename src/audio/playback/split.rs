//! The task between a session's events and the caller: audio to the playback thread,
//! everything else on, in order; barge-in.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::control::{Control, Msg};
use super::interruption::send_interruption;
use crate::audio::RATE;
use crate::realtime::events::{AudioFormat, OutputAudioBufferClear, ResponseCancel, TurnDetection};
use crate::realtime::{EventReceiver, ServerEvent, Session, WeakEventSender, codec};

/// PCM rates a session may ask playback for: anything else (0, 1, 4294967295 …) is not
/// played, rather than handed to the resampler.
const PLAYABLE_RATES: [u32; 11] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000,
];

/// The task between the connection and the caller.
pub(crate) struct Split {
    tx: mpsc::Sender<Msg>,
    control: Arc<Control>,
    sender: Option<WeakEventSender>,
    barge_in: bool,
    forward_audio: bool,
    format: AudioFormat,
    /// The session's PCM rate is one playback cannot play: audio is passed on instead.
    unplayable: Option<u32>,
    /// Whether the server cancels a response itself when the user starts speaking.
    auto_interrupt: bool,
    /// The session is a WebRTC call (an `output_audio_buffer.*` event was seen): the
    /// server plays out the audio and clears it, and says so.
    webrtc: bool,
    /// A response is in progress (created, not done).
    responding: bool,
}

impl Split {
    pub(crate) fn new(
        tx: mpsc::Sender<Msg>,
        control: Arc<Control>,
        sender: Option<WeakEventSender>,
        barge_in: bool,
        forward_audio: bool,
    ) -> Self {
        Split {
            tx,
            control,
            sender,
            barge_in,
            forward_audio,
            format: AudioFormat::Pcm { rate: None },
            unplayable: None,
            auto_interrupt: true,
            webrtc: false,
            responding: false,
        }
    }

    /// Runs until the session's events end, or nobody is left: neither a reader of `out`
    /// nor the playback thread. Holds no sender, so it never keeps the connection open.
    pub(crate) async fn run(mut self, mut input: EventReceiver, out: mpsc::Sender<ServerEvent>) {
        let tx = self.tx.clone();
        let abandoned = async {
            out.closed().await;
            tx.closed().await;
        };
        tokio::pin!(abandoned);
        loop {
            let event = tokio::select! {
                event = input.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
                () = &mut abandoned => return,
            };
            let forward = self.observe(&event).await;
            // Nobody reads the events any more: keep playing the audio.
            if forward && !out.is_closed() {
                let _ = out.send(event).await;
            }
        }
    }

    /// Acts on one event; returns whether the caller should see it.
    async fn observe(&mut self, event: &ServerEvent) -> bool {
        match event {
            ServerEvent::ResponseOutputAudioDelta(d) => {
                if self.unplayable.is_some() || self.tx.is_closed() {
                    return true; // not played: passed on, so it is not lost silently
                }
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
                        d.pcm16_into(&mut pcm).map(|()| (rate.unwrap_or(RATE), pcm))
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
                self.responding = true;
                if let Some(id) = &r.response.id {
                    self.to_player(Msg::ResponseStarted(id.clone())).await;
                }
            }
            ServerEvent::ResponseDone(r) => {
                self.responding = false;
                if let Some(id) = &r.response.id {
                    self.to_player(Msg::ResponseDone(id.clone())).await;
                }
            }
            ServerEvent::SessionCreated(s) => self.session(&s.session),
            ServerEvent::SessionUpdated(s) => self.session(&s.session),
            ServerEvent::InputAudioBufferSpeechStarted(_) if self.barge_in => self.barge_in().await,
            ServerEvent::OutputAudioBufferStarted(_) => {
                self.webrtc = true;
                self.to_player(Msg::ServerPlayout(true)).await;
            }
            ServerEvent::OutputAudioBufferStopped(_) => {
                self.webrtc = true;
                self.to_player(Msg::ServerPlayout(false)).await;
            }
            ServerEvent::OutputAudioBufferCleared(_) => {
                // The server dropped what it had not played: so does playback.
                self.webrtc = true;
                self.to_player(Msg::ServerPlayout(false)).await;
                let (reply, rx) = tokio::sync::oneshot::channel();
                self.to_player(Msg::Interrupt(reply)).await;
                let _ = rx.await;
            }
            _ => {}
        }
        true
    }

    fn session(&mut self, s: &Session) {
        let Some(audio) = &s.audio else { return };
        if let Some(f) = audio.output.as_ref().and_then(|o| o.format) {
            self.format = f;
            self.unplayable = match f {
                AudioFormat::Pcm { rate: Some(r) } if !PLAYABLE_RATES.contains(&r) => Some(r),
                _ => None,
            };
            if let Some(rate) = self.unplayable {
                tracing::warn!(
                    rate,
                    "the session's output is PCM at a rate playback does not support: its audio is not played (it is passed on with the other events)"
                );
            }
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
        if self.webrtc {
            // The server holds the playout (and knows what was heard): it is told to
            // clear it, and playback clears when it says `output_audio_buffer.cleared`.
            let Some(sender) = self.sender.as_ref().and_then(WeakEventSender::upgrade) else {
                return;
            };
            let cancel = !self.auto_interrupt && self.responding;
            let sent = async {
                if cancel {
                    sender.send(ResponseCancel::default()).await?;
                }
                sender.send(OutputAudioBufferClear::default()).await
            };
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "barge-in: could not ask the server to clear its playout");
            }
            return;
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.to_player(Msg::Interrupt(reply)).await;
        let Ok(Some(cut)) = rx.await else { return };
        tracing::debug!(item_id = %cut.item_id, audio_end_ms = ?cut.audio_end_ms, "barge-in");
        if let Some(sender) = self.sender.as_ref().and_then(WeakEventSender::upgrade)
            && let Err(e) = send_interruption(&sender, &cut, !self.auto_interrupt).await
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
