//! What a simulated session talks through: a WebSocket, or (feature `webrtc`) a call's
//! data channel and audio track, bridged by the call's peer task (`calls.rs`).

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::voice::Format;

/// What reached the session.
pub(super) enum Incoming {
    /// A client event's text.
    Text(String),
    /// Audio from a call's track, 24 kHz PCM16 (as an append would bring).
    #[cfg(feature = "webrtc")]
    Audio(Vec<i16>),
    /// The client is gone.
    End,
}

/// What the session sends to a call's peer task.
#[cfg(feature = "webrtc")]
pub(super) enum Outgoing {
    /// An event for the data channel.
    Text(String),
    /// Reply audio for the track, 24 kHz PCM16.
    Audio(Vec<i16>),
    /// Close the channel (and so the call).
    Close,
}

/// A call's end of the session.
#[cfg(feature = "webrtc")]
pub(super) struct CallLink {
    pub(super) tx: tokio::sync::mpsc::Sender<Outgoing>,
    pub(super) rx: tokio::sync::mpsc::Receiver<Incoming>,
}

pub(super) enum Wire {
    Ws(Box<WebSocketStream<TcpStream>>),
    #[cfg(feature = "webrtc")]
    Call(CallLink),
}

impl Wire {
    /// Sends one event; `Err` when the client is gone. Over a call, audio deltas go on
    /// the track (decoded from `output`'s format) rather than the channel.
    #[cfg_attr(not(feature = "webrtc"), allow(unused_variables))]
    pub(super) async fn send(&mut self, event: &Value, output: Format) -> Result<(), ()> {
        match self {
            Wire::Ws(ws) => ws
                .send(Message::text(event.to_string()))
                .await
                .map_err(|_| ()),
            #[cfg(feature = "webrtc")]
            Wire::Call(link) => {
                let out = if event["type"] == "response.output_audio.delta" {
                    let b64 = event["delta"].as_str().unwrap_or_default();
                    let bytes = base64_simd::STANDARD.decode_to_vec(b64).unwrap_or_default();
                    Outgoing::Audio(super::voice::to_pcm24(output, &bytes))
                } else {
                    Outgoing::Text(event.to_string())
                };
                link.tx.send(out).await.map_err(|_| ())
            }
        }
    }

    /// The next thing the client sent.
    pub(super) async fn next(&mut self) -> Incoming {
        match self {
            Wire::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => return Incoming::Text(text.as_str().into()),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Incoming::End,
                    Some(Ok(_)) => {}
                }
            },
            #[cfg(feature = "webrtc")]
            Wire::Call(link) => link.rx.recv().await.unwrap_or(Incoming::End),
        }
    }

    /// Closes with `code` and `reason` (over a call: closes the channel).
    pub(super) async fn close(&mut self, code: u16, reason: &str) {
        match self {
            Wire::Ws(ws) => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                };
                let _ = ws.as_mut().close(Some(frame)).await;
            }
            #[cfg(feature = "webrtc")]
            Wire::Call(link) => {
                let _ = link.tx.send(Outgoing::Close).await;
            }
        }
    }
}
