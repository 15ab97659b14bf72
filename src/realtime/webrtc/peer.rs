//! The call's task: one per call, owning the peer connection ([`PeerIo`]). It writes
//! what the senders queue on the `oai-events` data channel, turns appended audio into
//! packets on the audio track (Opus or G.711, as the answer took), reads and parses the channel's events, and turns the
//! remote track back into local `response.output_audio.delta` events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use str0m::Event;
use str0m::channel::ChannelId;
use str0m::media::{MediaData, Mid, Pt};
use str0m::{IceConnectionState, RtcError};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::peer_io::PeerIo;
use super::track::{TrackDecoder, TrackEncoder};
use crate::Error;
use crate::inbox::{Batch, InboxSender};
use crate::realtime::events::{Disconnected, ServerEvent, parse_server_event};
use crate::realtime::handle::{Command, SendBudget};

/// The data channel's label, as OpenAI names it.
pub(crate) const CHANNEL_LABEL: &str = "oai-events";

/// The most events taken from the senders while the channel cannot take them (not yet
/// open, or its buffer full); the senders' own queue holds the rest.
const MAX_PENDING: usize = 64;

/// The text that starts an `input_audio_buffer.append` as the senders serialise it.
const APPEND_PREFIX: &str = "{\"type\":\"input_audio_buffer.append\"";
/// And an `input_audio_buffer.clear`.
const CLEAR_PREFIX: &str = "{\"type\":\"input_audio_buffer.clear\"";

pub(crate) struct CallTask {
    pub(crate) io: PeerIo,
    pub(crate) cmd_rx: mpsc::Receiver<Command>,
    pub(crate) evt_tx: InboxSender<ServerEvent>,
    pub(crate) budget: Arc<SendBudget>,
    /// Sent first when the channel opens.
    pub(crate) session_update: Option<Utf8Bytes>,
    /// Told once the channel is open (or the call failed first).
    pub(crate) opened: Option<oneshot::Sender<Result<(), Error>>>,
    pub(crate) muted: Arc<AtomicBool>,
    pub(crate) channel: Option<ChannelId>,
    /// The audio track's media (from the offer) and the payload type audio goes out as
    /// (the answer's pick), coded by `encoder`.
    pub(crate) audio: (Mid, Pt),
    /// Events taken from the senders, waiting for the channel.
    pub(crate) pending: VecDeque<Utf8Bytes>,
    pub(crate) encoder: TrackEncoder,
    pub(crate) decoder: TrackDecoder,
    pub(crate) rtp_time: u64,
    /// The response and item the remote audio belongs to (from the channel's events).
    pub(crate) response_id: String,
    pub(crate) item_id: String,
    pub(crate) batch: Batch<ServerEvent>,
    pub(crate) close_waiters: Vec<oneshot::Sender<()>>,
}

/// How the call ended.
enum End {
    /// Closed by us (close, every sender dropped).
    Closed,
    Lost(Error),
}

fn rtc_error(e: RtcError) -> Error {
    Error::transport(std::io::Error::other(format!("peer connection: {e}")))
}

impl CallTask {
    pub(crate) async fn run(mut self) {
        let end = match self.io.drain().map_err(rtc_error) {
            Ok(()) => self.drive().await,
            Err(e) => End::Lost(e),
        };
        self.evt_tx.force(&mut self.batch);
        match end {
            End::Closed => {}
            End::Lost(error) => {
                tracing::warn!(%error, "call lost");
                let unsent = self.pending.len() + self.abandon();
                if let Some(opened) = self.opened.take() {
                    let _ = opened.send(Err(error));
                } else {
                    let lost = Disconnected::new(error, None, false, unsent);
                    self.evt_tx.send(ServerEvent::Disconnected(lost)).await;
                }
            }
        }
        // The server sees the channel close rather than wait for the call to time out.
        self.io
            .hang_up(self.channel, std::time::Duration::from_millis(200))
            .await;
        for done in self.close_waiters.drain(..) {
            let _ = done.send(());
        }
    }

    /// Events still queued by the senders, dropped (their bytes given back).
    fn abandon(&mut self) -> usize {
        self.cmd_rx.close();
        let mut n = 0;
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            match cmd {
                Command::Send(out) => {
                    self.budget.release(out.text.len());
                    n += 1;
                }
                Command::Close(done) => self.close_waiters.push(done),
            }
        }
        n
    }

    async fn drive(&mut self) -> End {
        loop {
            if let Err(e) = self.handle_events() {
                return End::Lost(e);
            }
            if let Err(e) = self.flush_pending() {
                return End::Lost(e);
            }
            if !self.batch.is_empty() && self.evt_tx.publish(&mut self.batch).await.is_err() {
                // The receiver is gone: nobody hears the call any more.
                return End::Closed;
            }
            let take = self.pending.len() < MAX_PENDING;
            tokio::select! {
                turned = self.io.turn() => {
                    if let Err(e) = turned {
                        return End::Lost(rtc_error(e));
                    }
                }
                cmd = self.cmd_rx.recv(), if take => match cmd {
                    Some(Command::Send(out)) => {
                        self.budget.release(out.text.len());
                        if let Err(e) = self.outgoing(out.text) {
                            return End::Lost(e);
                        }
                    }
                    Some(Command::Close(done)) => {
                        self.close_waiters.push(done);
                        return End::Closed;
                    }
                    None => return End::Closed,
                },
            }
        }
    }

    /// Handles what the engine reported.
    fn handle_events(&mut self) -> Result<(), Error> {
        while let Some(event) = self.io.events.pop_front() {
            match event {
                Event::ChannelOpen(id, label) if label == CHANNEL_LABEL => {
                    self.channel = Some(id);
                    if let Some(update) = self.session_update.take() {
                        self.pending.push_front(update);
                    }
                    if let Some(opened) = self.opened.take() {
                        let _ = opened.send(Ok(()));
                    }
                }
                Event::ChannelData(data) if Some(data.id) == self.channel && !data.binary => {
                    self.incoming(data.data);
                }
                Event::ChannelClose(id) if Some(id) == self.channel => {
                    return Err(Error::transport(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the server closed the `oai-events` data channel",
                    )));
                }
                Event::MediaData(media) => self.remote_audio(&media),
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    return Err(Error::transport(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "the peer connection was lost (ICE disconnected)",
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// An event from the channel, parsed and queued for the receiver.
    fn incoming(&mut self, data: Vec<u8>) {
        let text = match String::from_utf8(data) {
            Ok(text) => Utf8Bytes::from(text),
            Err(e) => {
                tracing::warn!(
                    bytes = e.as_bytes().len(),
                    "a data channel message is not UTF-8: dropped"
                );
                return;
            }
        };
        let event = parse_server_event(text);
        match &event {
            // Audio comes on the track; deltas on the channel too would play twice.
            ServerEvent::ResponseOutputAudioDelta(_) => return,
            ServerEvent::ResponseOutputItemAdded(added) => {
                self.response_id.clone_from(&added.response_id);
                if let Some(id) = added.item.id() {
                    self.item_id = id.to_owned();
                }
            }
            ServerEvent::ResponseCreated(created) => {
                if let Some(id) = &created.response.id {
                    self.response_id.clone_from(id);
                }
            }
            _ => {}
        }
        self.batch.push(event);
    }

    /// The remote track's audio, decoded into a local audio delta.
    fn remote_audio(&mut self, media: &MediaData) {
        let pcm = match self.decoder.decode(media.params.spec().codec, &media.data) {
            Ok(Some(pcm)) => pcm,
            Ok(None) => return,
            Err(message) => {
                tracing::debug!(%message, "remote audio packet dropped");
                return;
            }
        };
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let delta = base64_simd::STANDARD.encode_to_string(&bytes);
        let text = serde_json::json!({
            "type": "response.output_audio.delta",
            "event_id": "local_webrtc_audio",
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": delta,
        })
        .to_string();
        self.batch.push(parse_server_event(text.into()));
    }

    /// An event from the senders: appended audio to the track, the rest to the channel.
    fn outgoing(&mut self, text: Utf8Bytes) -> Result<(), Error> {
        if text.as_str().starts_with(APPEND_PREFIX) {
            return self.append(&text);
        }
        if text.as_str().starts_with(CLEAR_PREFIX) {
            // Audio not yet in a packet goes with the rest of the buffer.
            self.encoder.clear();
        }
        self.pending.push_back(text);
        self.flush_pending()
    }

    /// Writes waiting events while the channel is open and takes them.
    fn flush_pending(&mut self) -> Result<(), Error> {
        let Some(id) = self.channel else {
            return Ok(());
        };
        while let Some(text) = self.pending.front() {
            if !self.io.write_text(id, text).map_err(rtc_error)? {
                // The channel's buffer is full: again after the next turn.
                return Ok(());
            }
            self.pending.pop_front();
        }
        Ok(())
    }

    /// An `input_audio_buffer.append`: its PCM16 goes out on the track, 20 ms a packet.
    fn append(&mut self, text: &str) -> Result<(), Error> {
        if self.muted.load(Ordering::Relaxed) {
            return Ok(());
        }
        let audio = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("audio")?.as_str().map(str::to_owned))
            .and_then(|b64| base64_simd::STANDARD.decode_to_vec(b64).ok());
        let Some(bytes) = audio else {
            tracing::warn!("input_audio_buffer.append without base64 `audio`: not sent");
            return Ok(());
        };
        let pcm: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        self.io
            .send_audio(&mut self.encoder, self.audio, &mut self.rtp_time, &pcm)
            .map_err(|m| Error::transport(std::io::Error::other(m)))?;
        Ok(())
    }
}
