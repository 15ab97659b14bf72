//! One peer connection's engine and socket: a str0m [`Rtc`] (sans-IO) and the UDP socket
//! it talks through, driven by one task, as the WebSocket task owns its socket.
//!
//! str0m asks that every change to the engine (a datagram in, a timeout, a channel
//! write, a media write) is followed by draining its output until it names its next
//! deadline. [`PeerIo::drain`] does that: datagrams go out on the socket, events wait in
//! [`PeerIo::events`] for the task, and the deadline is kept for [`PeerIo::turn`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::channel::ChannelId;
use str0m::media::{MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig, RtcError};
use tokio::net::UdpSocket;

use super::track::{CallCodec, TrackEncoder};

/// The largest datagram read (WebRTC keeps packets under the path MTU).
const MAX_DATAGRAM: usize = 2048;

/// A peer connection's engine and its socket.
pub(crate) struct PeerIo {
    pub(crate) rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    /// When the engine wants to be told the time next.
    deadline: Instant,
    /// Events drained from the engine, not yet handled by the task.
    pub(crate) events: VecDeque<Event>,
}

/// An engine for one call: audio in `codecs` (in that order of preference), data
/// channels, crypto from RustCrypto, no statistics. Only those codecs are offered or
/// accepted: an answer with none of them is a typed error rather than a track whose
/// packets nobody can code.
pub(crate) fn new_rtc(codecs: &[CallCodec]) -> Rtc {
    let config = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .set_stats_interval(None);
    super::track::enable(config, codecs).build(Instant::now())
}

/// A UDP socket on `ip` (any free port) and its host candidate for the offer or answer.
pub(crate) async fn bind(ip: std::net::IpAddr) -> std::io::Result<(UdpSocket, Candidate)> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let addr = socket.local_addr()?;
    let candidate = Candidate::host(addr, "udp")
        .map_err(|e| std::io::Error::other(format!("host candidate {addr}: {e}")))?;
    Ok((socket, candidate))
}

impl PeerIo {
    pub(crate) fn new(rtc: Rtc, socket: UdpSocket) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        Ok(PeerIo {
            rtc,
            socket,
            local,
            buf: vec![0; MAX_DATAGRAM],
            deadline: Instant::now(),
            events: VecDeque::new(),
        })
    }

    /// Drains the engine after a change: sends its datagrams (a datagram the socket does
    /// not take now is lost, as on any network; the engine sends again), queues its
    /// events, keeps its deadline.
    pub(crate) fn drain(&mut self) -> Result<(), RtcError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(at) => {
                    self.deadline = at;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => self.events.push_back(e),
            }
        }
    }

    /// Waits for a datagram or the deadline, hands it to the engine and drains it.
    ///
    /// Cancel-safe: a datagram is taken from the socket and handed over with no await in
    /// between; dropped while waiting, nothing has changed.
    pub(crate) async fn turn(&mut self) -> Result<(), RtcError> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let input = tokio::select! {
            received = self.socket.recv_from(&mut self.buf) => match received {
                Ok((n, source)) => match self.buf[..n].try_into() {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    ),
                    // Not STUN, DTLS, RTP or RTCP: not ours.
                    Err(_) => return Ok(()),
                },
                // An ICMP error for an earlier datagram (a port nobody listens on):
                // the engine's own timers notice the silence.
                Err(_) => return Ok(()),
            },
            () = tokio::time::sleep_until(deadline) => Input::Timeout(Instant::now()),
        };
        self.rtc.handle_input(input)?;
        self.drain()
    }

    /// Writes one text message on channel `id` and drains; `Ok(false)` when the channel's
    /// buffer cannot take it now (or the channel is gone).
    pub(crate) fn write_text(&mut self, id: ChannelId, text: &str) -> Result<bool, RtcError> {
        let written = match self.rtc.channel(id) {
            Some(mut channel) => channel.write(false, text.as_bytes())?,
            None => false,
        };
        self.drain()?;
        Ok(written)
    }

    /// Ends the peer connection: closes `channel` first and gives its reset up to
    /// `grace` to reach the other side (so it sees the channel close rather than wait for
    /// the connection to time out), then disconnects.
    pub(crate) async fn hang_up(&mut self, channel: Option<ChannelId>, grace: std::time::Duration) {
        if let Some(id) = channel {
            self.rtc.direct_api().close_data_channel(id);
            let _ = self.drain();
            let _ = tokio::time::timeout(grace, async { while self.turn().await.is_ok() {} }).await;
        }
        self.rtc.disconnect();
        let _ = self.drain();
    }

    /// Codes `pcm` into 20 ms packets and sends each on the track `mid` as payload type
    /// `pt`, advancing `rtp_time` (ticks of the codec's clock) by a packet each.
    pub(crate) fn send_audio(
        &mut self,
        encoder: &mut TrackEncoder,
        (mid, pt): (Mid, Pt),
        rtp_time: &mut u64,
        pcm: &[i16],
    ) -> Result<(), String> {
        let mut failed = None;
        let codec = encoder.codec();
        let (clock, ticks) = (codec.clock(), codec.packet_ticks());
        encoder.push(pcm, |packet| {
            if failed.is_some() {
                return;
            }
            let time = MediaTime::new(*rtp_time, clock);
            *rtp_time += ticks;
            let Some(writer) = self.rtc.writer(mid) else {
                return;
            };
            let sent = writer.write(pt, Instant::now(), time, packet.to_vec());
            if let Err(e) = sent.and_then(|()| self.drain()) {
                failed = Some(format!("peer connection: {e}"));
            }
        })?;
        failed.map_or(Ok(()), Err)
    }
}
