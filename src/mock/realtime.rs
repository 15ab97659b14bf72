//! The Realtime simulator: a WebSocket server on 127.0.0.1 speaking the GA protocol. This
//! file holds the handshake, the connection loop and the dispatch of client events; the
//! session's state is in `session.rs`, creating, sending and cancelling responses in
//! `respond.rs` (what they say in `script.rs`, their events in `response.rs`, their
//! progress in `running.rs`), turn detection in `turns.rs`, input transcription in
//! `transcription.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::options::SimulatorOptions;
use super::params::unknown_parameter;
use super::server::{self, Server};
use super::session::{Session, Stop, api_error};
use super::voice;
use super::wire::{Incoming, Wire};
use crate::Error;
use crate::realtime::ConnectOptions;
use crate::realtime::session_merge::merge;
use crate::time::{deadline_after, sleep_until};

/// A running simulator. Dropping it stops the server and its connections.
#[derive(Debug)]
pub struct RealtimeSimulator {
    server: Server,
    api_key: Option<String>,
}

impl RealtimeSimulator {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(options: SimulatorOptions) -> Result<Self, Error> {
        Self::start_on(server::LOCAL, options).await
    }

    /// Binds `addr` (port 0 for a free one) and starts serving: for a simulator other
    /// programs reach at a known address.
    ///
    /// # Errors
    /// [`Error::Connect`] naming the address when it cannot be bound (in use, not local).
    pub async fn start_on(addr: SocketAddr, options: SimulatorOptions) -> Result<Self, Error> {
        let api_key = options.api_key.clone();
        let server = Server::start(addr, Arc::new(options), serve).await?;
        Ok(RealtimeSimulator { server, api_key })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `ws://127.0.0.1:PORT/v1/realtime`.
    pub fn base_url(&self) -> String {
        format!("ws://{}/v1/realtime", self.server.addr)
    }

    /// Options for [`connect`](crate::realtime::connect) that reach this simulator.
    pub fn connect_options(&self) -> ConnectOptions {
        let options = ConnectOptions::default().base_url(self.base_url());
        options.api_key(
            self.api_key
                .clone()
                .unwrap_or_else(|| "sk-simulator".into()),
        )
    }
}

#[cfg(feature = "webrtc")]
impl RealtimeSimulator {
    /// Options for [`webrtc::connect`](crate::realtime::webrtc::connect) that reach this
    /// simulator's calls endpoint (`http://127.0.0.1:PORT/v1`).
    pub fn call_options(&self) -> crate::realtime::webrtc::CallOptions {
        crate::realtime::webrtc::CallOptions::default()
            .base_url(format!("http://{}/v1", self.server.addr))
            .api_key(
                self.api_key
                    .clone()
                    .unwrap_or_else(|| "sk-simulator".into()),
            )
    }
}

fn error_response(status: u16, body: Value) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(body.to_string()));
    *r.status_mut() = status.try_into().expect("valid status");
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("valid header"),
    );
    r
}

// tungstenite fixes the handshake callback's error type.
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, options: Arc<SimulatorOptions>) {
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "webrtc")]
    if super::calls::is_post(&stream).await {
        return super::calls::serve(stream, options).await;
    }
    let mut call_id: Option<String> = None;
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let uri = req.uri();
        let query = uri.query().unwrap_or("");
        call_id = query
            .split('&')
            .find_map(|p| p.strip_prefix("call_id="))
            .map(str::to_owned);
        if uri.path() != "/v1/realtime" {
            return Err(error_response(
                404,
                api_error("invalid_request_error", "not_found", "Not found.", None),
            ));
        }
        if !query
            .split('&')
            .any(|p| p.starts_with("model=") || p.starts_with("call_id="))
        {
            let msg = "Missing required parameter: 'model'.";
            return Err(error_response(
                400,
                api_error(
                    "invalid_request_error",
                    "missing_required_parameter",
                    msg,
                    Some("model"),
                ),
            ));
        }
        if let Some(key) = &options.api_key {
            let h = req.headers();
            let bearer = h
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let header = h.get("api-key").and_then(|v| v.to_str().ok());
            if bearer != Some(key.as_str()) && header != Some(key.as_str()) {
                let msg = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.";
                return Err(error_response(
                    401,
                    api_error("invalid_request_error", "invalid_api_key", msg, None),
                ));
            }
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    #[cfg(feature = "webrtc")]
    if let Some(id) = call_id {
        // A sideband connection to a call: the call's session, not a new one.
        return super::calls::sideband(&id, ws).await;
    }
    #[cfg(not(feature = "webrtc"))]
    let _ = call_id;
    let _ = Session::new(Wire::Ws(Box::new(ws)), options).run().await;
}

impl Session {
    pub(super) async fn run(mut self) -> Result<(), Stop> {
        let id = self.id("sess");
        // The API's sessions last at most an hour.
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        self.config = json!({
            "type": "realtime", "object": "realtime.session", "id": id, "model": "gpt-realtime",
            "output_modalities": ["audio"], "instructions": "", "tools": [], "tool_choice": "auto",
            "max_output_tokens": "inf", "tracing": null, "prompt": null, "expires_at": expires_at,
            "audio": {
                "input": { "format": { "type": "audio/pcm", "rate": 24000 }, "transcription": null,
                    "noise_reduction": null, "turn_detection": { "type": "server_vad", "threshold": 0.5,
                    "prefix_padding_ms": 300, "silence_duration_ms": 500, "create_response": true,
                    "interrupt_response": true, "idle_timeout_ms": null } },
                "output": { "format": { "type": "audio/pcm", "rate": 24000 }, "voice": "marin", "speed": 1.0 }
            },
            "include": null
        });
        if let Some(initial) = self.initial_session.take() {
            merge(&mut self.config, initial);
        }
        let session = self.config.clone();
        self.emit(json!({ "type": "session.created", "session": session }))
            .await?;
        let expiry = self.options.session_expires_after.map(deadline_after);
        loop {
            let due = self.queue.front().map(|q| q.at);
            tokio::select! {
                _ = sleep_until(expiry), if expiry.is_some() => {
                    let msg = "Your session hit the maximum duration of 60 minutes.".to_owned();
                    self.error("session_expired", msg, None, None).await?;
                    return self.close(1000, "session expired").await;
                }
                msg = self.wire.next() => match msg {
                    Incoming::Text(text) => self.handle(&text).await?,
                    #[cfg(feature = "webrtc")]
                    Incoming::Audio(pcm) => {
                        self.buffer_samples += pcm.len();
                        self.detect_speech(&pcm).await?;
                    }
                    Incoming::End => return Err(Stop),
                },
                _ = sleep_until(due), if due.is_some() => {
                    if let Some(q) = self.queue.pop_front() {
                        let response = q.response.clone();
                        self.send_queued(&response, q.into_event()).await?;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, text: &str) -> Result<(), Stop> {
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            let msg = "We could not parse the JSON body of your request. Please send valid JSON."
                .to_owned();
            return self.error("invalid_json", msg, None, None).await;
        };
        let client_id = event
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let cid = client_id.as_deref();
        let Some(ty) = event.get("type").and_then(Value::as_str) else {
            return self
                .error(
                    "invalid_event",
                    "The 'type' field is missing.".into(),
                    None,
                    cid,
                )
                .await;
        };
        match ty {
            "session.update" => self.session_update(&event, cid).await,
            "input_audio_buffer.append" => {
                let Some(audio) = event.get("audio").and_then(Value::as_str) else {
                    return self.missing("audio", cid).await;
                };
                match base64_simd::STANDARD.decode_to_vec(audio) {
                    Ok(bytes) => {
                        let pcm = voice::to_pcm24(self.format("input"), &bytes);
                        self.buffer_samples += pcm.len();
                        self.detect_speech(&pcm).await
                    }
                    Err(_) => {
                        let msg = "Invalid 'audio'. Expected base64-encoded audio bytes.".into();
                        self.error("invalid_value", msg, Some("audio"), cid).await
                    }
                }
            }
            "input_audio_buffer.commit" => self.commit(cid, None).await,
            "input_audio_buffer.clear" => {
                self.buffer_samples = 0;
                self.emit(json!({ "type": "input_audio_buffer.cleared" }))
                    .await
            }
            "conversation.item.create" => {
                let Some(item) = event.get("item").filter(|i| i.is_object()).cloned() else {
                    return self.missing("item", cid).await;
                };
                let previous = event.get("previous_item_id").and_then(Value::as_str);
                if let Some(p) = previous
                    && p != "root"
                    && !self.items.iter().any(|i| i.id == p)
                {
                    let msg = format!("Item with item_id '{p}' not found.");
                    return self
                        .error("item_not_found", msg, Some("previous_item_id"), cid)
                        .await;
                }
                let previous = previous.map(str::to_owned);
                self.add_item(item, 0, previous.as_deref())
                    .await
                    .map(|_| ())
            }
            "conversation.item.retrieve"
            | "conversation.item.delete"
            | "conversation.item.truncate" => self.item_op(ty, &event, cid).await,
            "response.create" => self.response_create(&event, cid).await,
            "response.cancel" => self.response_cancel(&event, cid).await,
            "output_audio_buffer.clear" => {
                let msg =
                    "output_audio_buffer.clear is only supported for WebRTC and SIP sessions."
                        .into();
                self.error("invalid_value", msg, Some("type"), cid).await
            }
            other => {
                let msg = format!(
                    "Invalid value: '{other}'. Supported values are: {}.",
                    crate::realtime::ClientEvent::TYPES.join(", ")
                );
                self.error("invalid_value", msg, Some("type"), cid).await
            }
        }
    }

    async fn session_update(&mut self, event: &Value, cid: Option<&str>) -> Result<(), Stop> {
        let Some(session) = event.get("session").filter(|s| s.is_object()) else {
            return self.missing("session", cid).await;
        };
        if let Some(param) = unknown_parameter("session", session) {
            let msg = format!("Unknown parameter: '{param}'.");
            return self
                .error("unknown_parameter", msg, Some(&param), cid)
                .await;
        }
        merge(&mut self.config, session.clone());
        let config = self.config.clone();
        self.emit(json!({ "type": "session.updated", "session": config }))
            .await
    }

    async fn item_op(&mut self, ty: &str, event: &Value, cid: Option<&str>) -> Result<(), Stop> {
        let Some(item_id) = event
            .get("item_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return self.missing("item_id", cid).await;
        };
        let Some(pos) = self.items.iter().position(|i| i.id == item_id) else {
            let msg = format!("Item with item_id '{item_id}' not found.");
            return self
                .error("item_not_found", msg, Some("item_id"), cid)
                .await;
        };
        match ty {
            "conversation.item.retrieve" => {
                let item = self.items[pos].item.clone();
                self.emit(json!({ "type": "conversation.item.retrieved", "item": item }))
                    .await
            }
            "conversation.item.delete" => {
                self.items.remove(pos);
                self.emit(json!({ "type": "conversation.item.deleted", "item_id": item_id }))
                    .await
            }
            _ => {
                let content_index = event
                    .get("content_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let Some(end) = event.get("audio_end_ms").and_then(Value::as_i64) else {
                    return self.missing("audio_end_ms", cid).await;
                };
                let have = self.items[pos].audio_us / 1000;
                if end < 0 || end as u64 > have {
                    let msg = format!("Audio content of {have}ms is already shorter than {end}ms");
                    return self
                        .error("invalid_value", msg, Some("audio_end_ms"), cid)
                        .await;
                }
                self.items[pos].audio_us = end as u64 * 1000;
                self.emit(
                    json!({ "type": "conversation.item.truncated", "item_id": item_id,
                    "content_index": content_index, "audio_end_ms": end }),
                )
                .await
            }
        }
    }
}
