//! The Realtime simulator's calls endpoint (feature `webrtc`): `POST /v1/realtime/calls`
//! answers an SDP offer with the simulator's own peer on 127.0.0.1, and the session runs
//! over the `oai-events` data channel and an Opus track each way, with the same event
//! engine and VAD as over a WebSocket. `POST /v1/realtime/calls/{id}/hangup` ends it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Mid, Pt};
use str0m::{Event, IceConnectionState};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::chat::{read_request, respond_json};
use super::chat_wire::header;
use super::options::SimulatorOptions;
use super::session::{Session, api_error};
use super::wire::{CallLink, Incoming, Outgoing, Wire};
use crate::realtime::webrtc::peer::CHANNEL_LABEL;
use crate::realtime::webrtc::peer_io::{self, PeerIo};
use crate::realtime::webrtc::track::{self, TrackDecoder, TrackEncoder};
use crate::realtime::webrtc::{CallCodec, FRAME, form_parts};

/// A call in progress, as the endpoint and sideband connections reach it.
struct Entry {
    id: String,
    /// Ends the call (hang-up).
    end: Arc<Notify>,
    /// Client events into the call's session.
    to_session: mpsc::Sender<Incoming>,
    /// Where a sideband connection registers for the session's events.
    sidebands: mpsc::Sender<mpsc::Sender<String>>,
}

/// Calls in progress.
static CALLS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Whether the connection starts with a `POST` (a calls request, not a WebSocket
/// upgrade). Waits for its first bytes.
pub(super) async fn is_post(stream: &TcpStream) -> bool {
    let mut head = [0u8; 4];
    for _ in 0..200 {
        match stream.peek(&mut head).await {
            Ok(4) => return &head == b"POST",
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
    false
}

fn calls() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CALLS.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) async fn serve(mut stream: TcpStream, options: Arc<SimulatorOptions>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    if let Some(key) = &options.api_key {
        let bearer = header(&head, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        let api_key = header(&head, "api-key");
        if bearer != Some(key.as_str()) && api_key != Some(key.as_str()) {
            let msg = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.";
            let error = api_error("invalid_request_error", "invalid_api_key", msg, None);
            return respond_json(&mut stream, 401, "", &error).await;
        }
    }
    if let Some(id) = path
        .strip_prefix("/v1/realtime/calls/")
        .and_then(|p| p.strip_suffix("/hangup"))
    {
        let found = {
            let mut calls = calls();
            let at = calls.iter().position(|c| c.id == id);
            at.map(|at| calls.swap_remove(at).end)
        };
        return match found {
            Some(end) => {
                end.notify_one();
                respond_json(&mut stream, 200, "", &json!({})).await
            }
            None => {
                let msg = format!("Call '{id}' not found.");
                let error = api_error("invalid_request_error", "call_not_found", &msg, None);
                respond_json(&mut stream, 404, "", &error).await
            }
        };
    }
    if path != "/v1/realtime/calls" {
        let error = api_error("invalid_request_error", "not_found", "Not found.", None);
        return respond_json(&mut stream, 404, "", &error).await;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let content_type = header(&head, "content-type").unwrap_or_default();
    let (offer, session) = if content_type.starts_with("multipart/form-data") {
        let parts: HashMap<String, String> = form_parts(content_type, &body).into_iter().collect();
        let session = parts
            .get("session")
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        (parts.get("sdp").cloned().unwrap_or_default(), session)
    } else {
        (body, None)
    };
    let refuse = |message: String| {
        api_error(
            "invalid_request_error",
            "invalid_offer",
            &message,
            Some("sdp"),
        )
    };
    let parsed = match SdpOffer::from_sdp_string(&offer) {
        Ok(parsed) => parsed,
        Err(e) => {
            let error = refuse(format!("The SDP offer could not be parsed: {e}"));
            return respond_json(&mut stream, 400, "", &error).await;
        }
    };
    if !names_any_codec(&offer, &options.call_codecs) {
        let error = refuse(format!(
            "The SDP offer names no audio codec the server supports ({:?}).",
            options.call_codecs
        ));
        return respond_json(&mut stream, 400, "", &error).await;
    }
    let offer = parsed;
    let Ok((socket, candidate)) = peer_io::bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).await else {
        return;
    };
    let mut rtc = peer_io::new_rtc(&options.call_codecs);
    if options.unreachable_candidate {
        // A port that was free a moment ago: nobody answers there.
        let Ok((closed, candidate)) = peer_io::bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).await else {
            return;
        };
        drop(closed);
        rtc.add_local_candidate(candidate);
    } else {
        rtc.add_local_candidate(candidate);
    }
    let answer = match rtc.sdp_api().accept_offer(offer) {
        Ok(answer) => answer,
        Err(e) => {
            let error = refuse(format!("The SDP offer was not accepted: {e}"));
            return respond_json(&mut stream, 400, "", &error).await;
        }
    };
    let id = format!("rtc_sim{:016x}", fastrand::u64(..));
    // As OpenAI's documented answer: no direction on the audio section.
    let answer: String = answer
        .to_sdp_string()
        .lines()
        .filter(|l| *l != "a=sendrecv")
        .map(|l| format!("{l}\r\n"))
        .collect();
    let reply = format!(
        "HTTP/1.1 201 Created\r\ncontent-type: application/sdp\r\nlocation: /v1/realtime/calls/{id}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    if stream.write_all(reply.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    drop(stream);
    if options.unreachable_candidate {
        // Hold the real socket, silent, for as long as a client would wait.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(socket);
        return;
    }
    let Ok(io) = PeerIo::new(rtc, socket) else {
        return;
    };
    let end = Arc::new(Notify::new());
    let (in_tx, in_rx) = mpsc::channel(256);
    let (sideband_tx, sidebands) = mpsc::channel(4);
    calls().push(Entry {
        id: id.clone(),
        end: end.clone(),
        to_session: in_tx.clone(),
        sidebands: sideband_tx,
    });
    run_call(io, options, session, end, (in_tx, in_rx), sidebands).await;
    calls().retain(|c| c.id != id);
}

/// Whether an `a=rtpmap` line of `sdp` names one of `codecs`.
fn names_any_codec(sdp: &str, codecs: &[CallCodec]) -> bool {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.split('/').next())
        .filter_map(|name| CallCodec::of(Codec::from(name)))
        .any(|c| codecs.contains(&c))
}

/// A sideband WebSocket to call `id` (`?call_id=`): its client events go to the call's
/// session, and it gets the session's events as the call's channel does.
pub(super) async fn sideband(id: &str, mut ws: WebSocketStream<TcpStream>) {
    let found = calls()
        .iter()
        .find(|c| c.id == id)
        .map(|c| (c.to_session.clone(), c.sidebands.clone()));
    let Some((to_session, register)) = found else {
        let msg = format!("Call '{id}' not found.");
        let error = api_error(
            "invalid_request_error",
            "call_not_found",
            &msg,
            Some("call_id"),
        );
        let event =
            json!({ "type": "error", "event_id": "event_simsideband", "error": error["error"] });
        let _ = ws.send(Message::text(event.to_string())).await;
        let _ = ws.close(None).await;
        return;
    };
    let (tx, mut events) = mpsc::channel(256);
    if register.send(tx).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if to_session.send(Incoming::Text(text.as_str().into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            event = events.recv() => match event {
                Some(text) => {
                    if ws.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                // The call ended.
                None => {
                    let _ = ws.close(None).await;
                    break;
                }
            },
        }
    }
}

/// The session and the peer that carries it, until either ends.
async fn run_call(
    io: PeerIo,
    options: Arc<SimulatorOptions>,
    session: Option<Value>,
    end: Arc<Notify>,
    (in_tx, in_rx): (mpsc::Sender<Incoming>, mpsc::Receiver<Incoming>),
    sidebands: mpsc::Receiver<mpsc::Sender<String>>,
) {
    let (out_tx, out_rx) = mpsc::channel(256);
    let codecs = options.call_codecs.clone();
    let mut server = Session::new(
        Wire::Call(CallLink {
            tx: out_tx,
            rx: in_rx,
        }),
        options,
    );
    server.initial_session = session;
    let peer = SimPeer {
        io,
        to_session: in_tx,
        from_session: out_rx,
        sideband_joins: sidebands,
        sidebands: Vec::new(),
        channel: None,
        audio: None,
        pending: VecDeque::new(),
        codecs,
        encoder: None,
        decoder: TrackDecoder::default(),
        rtp_time: 0,
        playout: VecDeque::new(),
        playing: None,
        response_id: String::new(),
        responding: false,
        discarding: false,
        audio_done: false,
        next_id: 0,
    };
    tokio::join!(
        async move {
            let _ = server.run().await;
        },
        peer.run(end)
    );
}

/// The simulator's side of a call.
struct SimPeer {
    io: PeerIo,
    to_session: mpsc::Sender<Incoming>,
    from_session: mpsc::Receiver<Outgoing>,
    /// Sideband connections joining, and those joined (each gets every event).
    sideband_joins: mpsc::Receiver<mpsc::Sender<String>>,
    sidebands: Vec<mpsc::Sender<String>>,
    channel: Option<ChannelId>,
    audio: Option<(Mid, Pt)>,
    /// Events waiting for the channel to open (or take more).
    pending: VecDeque<String>,
    /// The codecs it accepts, best first.
    codecs: Vec<track::CallCodec>,
    /// For the codec the answer took (when the track was added).
    encoder: Option<TrackEncoder>,
    decoder: TrackDecoder,
    rtp_time: u64,
    /// Reply audio not yet played out (24 kHz), sent 20 ms a packet in real time as a
    /// media server does, whatever the session's pace.
    playout: VecDeque<i16>,
    /// The response whose audio is playing out (`output_audio_buffer.started` sent).
    playing: Option<String>,
    /// The last response created.
    response_id: String,
    /// A response is in progress (created, not done).
    responding: bool,
    /// The playout was cleared while a response was in progress: its audio still on the
    /// way from the session is dropped until its `response.done`.
    discarding: bool,
    /// Its `response.output_audio.done` went by: all its audio is queued.
    audio_done: bool,
    next_id: u64,
}

impl SimPeer {
    async fn run(mut self, end: Arc<Notify>) {
        if self.io.drain().is_err() {
            return;
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !self.handle_events().await {
                break;
            }
            self.flush();
            let playing = !self.playout.is_empty() || self.playing.is_some();
            tokio::select! {
                turned = self.io.turn() => if turned.is_err() { break },
                out = self.from_session.recv() => match out {
                    Some(Outgoing::Text(text)) => self.event(text),
                    Some(Outgoing::Audio(pcm)) if !self.discarding => {
                        if self.playing.is_none() {
                            // The playout starts now, before the events that follow.
                            let id = self.response_id.clone();
                            self.own_event("output_audio_buffer.started", Some(&id));
                            self.playing = Some(id);
                        }
                        self.playout.extend(pcm);
                    }
                    Some(Outgoing::Audio(_)) => {}
                    Some(Outgoing::Close) | None => break,
                },
                _ = tick.tick(), if playing => self.play_packet(),
                Some(joined) = self.sideband_joins.recv() => self.sidebands.push(joined),
                () = end.notified() => break,
            }
        }
        // The client sees the channel close rather than wait for the call to time out.
        self.io
            .hang_up(self.channel, std::time::Duration::from_millis(300))
            .await;
    }

    /// An event for the client, noting where the reply's audio stands.
    fn event(&mut self, text: String) {
        // Sideband connections get it too (one that does not keep up is dropped).
        self.sidebands.retain(|s| s.try_send(text.clone()).is_ok());
        if text.contains("\"response.output_audio.done\"") {
            self.audio_done = true;
        }
        if text.contains("\"response.done\"") {
            self.responding = false;
            self.discarding = false;
        }
        if text.contains("\"response.created\"")
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && let Some(id) = v.pointer("/response/id").and_then(Value::as_str)
        {
            self.response_id = id.to_owned();
            self.responding = true;
        }
        self.pending.push_back(text);
        self.flush();
    }

    /// A server event of the peer's own (`output_audio_buffer.*`).
    fn own_event(&mut self, ty: &str, response_id: Option<&str>) {
        self.next_id += 1;
        let mut event =
            json!({ "type": ty, "event_id": format!("event_simrtc{:012}", self.next_id) });
        if let Some(id) = response_id {
            event["response_id"] = json!(id);
        }
        self.pending.push_back(event.to_string());
        self.flush();
    }

    /// Handles the engine's events; `false` once the call is over.
    async fn handle_events(&mut self) -> bool {
        while let Some(event) = self.io.events.pop_front() {
            match event {
                Event::ChannelOpen(id, label) if label == CHANNEL_LABEL => self.channel = Some(id),
                Event::ChannelData(data) if Some(data.id) == self.channel => {
                    let text = String::from_utf8_lossy(&data.data).into_owned();
                    if text.contains("\"output_audio_buffer.clear\"") {
                        // The playout is the peer's: it clears it itself.
                        self.playout.clear();
                        self.discarding = self.responding;
                        let playing = self
                            .playing
                            .take()
                            .unwrap_or_else(|| self.response_id.clone());
                        self.audio_done = false;
                        self.own_event("output_audio_buffer.cleared", Some(&playing));
                        continue;
                    }
                    if self.to_session.send(Incoming::Text(text)).await.is_err() {
                        return false;
                    }
                }
                Event::ChannelClose(_) => return false,
                Event::MediaAdded(added) => {
                    let taken = self
                        .io
                        .rtc
                        .writer(added.mid)
                        .and_then(|w| track::pick(w.payload_params(), &self.codecs));
                    if let Some((pt, codec)) = taken {
                        self.audio = Some((added.mid, pt));
                        self.encoder = TrackEncoder::new(codec).ok();
                    }
                }
                Event::MediaData(media) => {
                    let codec = media.params.spec().codec;
                    let Ok(Some(pcm)) = self.decoder.decode(codec, &media.data) else {
                        continue;
                    };
                    if self
                        .to_session
                        .send(Incoming::Audio(pcm.to_vec()))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return false,
                _ => {}
            }
        }
        true
    }

    /// Writes waiting events while the channel takes them.
    fn flush(&mut self) {
        let Some(id) = self.channel else { return };
        while let Some(text) = self.pending.front() {
            if !self.io.write_text(id, text).unwrap_or(false) {
                return;
            }
            self.pending.pop_front();
        }
    }

    /// The next 20 ms of reply audio out on the track; `output_audio_buffer.started`
    /// before a reply's first packet, `stopped` after its last.
    fn play_packet(&mut self) {
        if self.playout.is_empty() {
            if self.audio_done
                && let Some(id) = self.playing.take()
            {
                self.audio_done = false;
                self.own_event("output_audio_buffer.stopped", Some(&id));
            }
            return;
        }
        if self.playing.is_none() {
            let id = self.response_id.clone();
            self.own_event("output_audio_buffer.started", Some(&id));
            self.playing = Some(id);
        }
        let n = self.playout.len().min(FRAME);
        let mut pcm: Vec<i16> = self.playout.drain(..n).collect();
        pcm.resize(FRAME, 0);
        let (Some((mid, pt)), Some(encoder)) = (self.audio, self.encoder.as_mut()) else {
            return;
        };
        let _ = self
            .io
            .send_audio(encoder, (mid, pt), &mut self.rtp_time, &pcm);
    }
}
