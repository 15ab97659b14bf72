//! Internals exposed for the fuzz targets in `fuzz/` and their regression tests; not part
//! of the API.

use super::ws::reader::{Reader, Taken};

/// The WebSocket frame reader, fed bytes as a socket would deliver them.
#[derive(Debug)]
pub struct WsReader(Reader);

impl WsReader {
    /// A reader refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        WsReader(Reader::new(&[], 0, max_message))
    }

    /// Appends bytes as one read would.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.0.buffer(bytes.len()).extend_from_slice(bytes);
    }

    /// The next message or control frame, described (`text <json>`, `binary <len>`,
    /// `ping <bytes>`, `pong`, `close <code> <reason>`); `Ok(None)` when more bytes are
    /// needed; the error's text once the bytes broke the protocol.
    ///
    /// # Errors
    ///
    /// The error that ends the connection, as its message.
    pub fn take(&mut self) -> Result<Option<String>, String> {
        let taken = self.0.take().map_err(|e| e.to_string())?;
        Ok(taken.map(|t| match t {
            Taken::Text(text) => format!("text {:?}", text.as_str()),
            Taken::Binary(len) => format!("binary {len}"),
            Taken::Ping(payload) => format!("ping {:?}", &payload[..]),
            Taken::Pong => "pong".to_owned(),
            Taken::Close(None) => "close".to_owned(),
            Taken::Close(Some((code, reason))) => format!("close {code} {reason:?}"),
        }))
    }

    /// Whether bytes of an unfinished frame or message are held.
    pub fn is_mid_message(&self) -> bool {
        self.0.is_mid_message()
    }
}
