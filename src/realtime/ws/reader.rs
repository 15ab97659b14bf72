//! Whole frames and messages out of the bytes read from a server, with no I/O: what
//! [`super::WsConn`] reads goes into [`Reader::buffer`], and [`Reader::take`] gives back
//! what it completes. The same bytes give the same results however the reads cut them
//! (`fuzz/fuzz_targets/ws_frames.rs`).

use bytes::{Buf, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::WsError;
use super::frame::{self, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};

/// What a frame completed.
#[derive(Debug, PartialEq)]
pub(crate) enum Taken {
    /// A text message, checked to be UTF-8.
    Text(Utf8Bytes),
    /// A binary message's length.
    Binary(usize),
    /// A ping and its payload (owed back in a pong).
    Ping(Bytes),
    Pong,
    /// A close frame's code and reason, if it had them.
    Close(Option<(u16, String)>),
}

/// The bytes read and not yet taken, and a fragmented message being joined.
#[derive(Debug)]
pub(crate) struct Reader {
    read: BytesMut,
    /// A fragmented message's opcode and what arrived of it so far.
    partial: Option<(u8, BytesMut)>,
    max_message: usize,
}

impl Reader {
    /// A reader refusing messages over `max_message` bytes, starting with `rest`.
    pub(crate) fn new(rest: &[u8], capacity: usize, max_message: usize) -> Self {
        let mut read = BytesMut::with_capacity(capacity.max(rest.len()));
        read.extend_from_slice(rest);
        Reader {
            read,
            partial: None,
            max_message,
        }
    }

    /// Where the next read goes, with room for at least `room` bytes more.
    pub(crate) fn buffer(&mut self, room: usize) -> &mut BytesMut {
        if self.read.capacity() - self.read.len() < room {
            self.read.reserve(room);
        }
        &mut self.read
    }

    /// Whether bytes of an unfinished frame or message are held.
    pub(crate) fn is_mid_message(&self) -> bool {
        !self.read.is_empty() || self.partial.is_some()
    }

    /// The next frame that completes a message or is a control frame; `None` when more
    /// bytes are needed. After an error the reader must not be used again.
    pub(crate) fn take(&mut self) -> Result<Option<Taken>, WsError> {
        loop {
            let Some(h) = frame::parse_header(&self.read)? else {
                return Ok(None);
            };
            if h.opcode < CLOSE {
                let joined = self.partial.as_ref().map_or(0, |(_, b)| b.len() as u64);
                let size = joined + h.len;
                if size > self.max_message as u64 {
                    return Err(WsError::TooLong {
                        size,
                        max: self.max_message,
                    });
                }
            }
            // Within `max_message` (or 125 for a control frame), so it fits in memory.
            let len = h.len as usize;
            if self.read.len() < h.size + len {
                self.read.reserve(h.size + len - self.read.len());
                return Ok(None);
            }
            self.read.advance(h.size);
            let payload = self.read.split_to(len);
            match h.opcode {
                TEXT | BINARY if self.partial.is_some() => {
                    return Err(WsError::Protocol(
                        "a new message before the last one's final fragment",
                    ));
                }
                TEXT | BINARY if h.fin => return complete(h.opcode, payload).map(Some),
                TEXT | BINARY => self.partial = Some((h.opcode, payload)),
                CONTINUATION => {
                    let Some((opcode, mut joined)) = self.partial.take() else {
                        return Err(WsError::Protocol(
                            "a continuation frame with no message to continue",
                        ));
                    };
                    joined.extend_from_slice(&payload);
                    if h.fin {
                        return complete(opcode, joined).map(Some);
                    }
                    self.partial = Some((opcode, joined));
                }
                PING => return Ok(Some(Taken::Ping(payload.freeze()))),
                PONG => return Ok(Some(Taken::Pong)),
                _ => return frame::parse_close(&payload).map(|c| Some(Taken::Close(c))),
            }
        }
    }
}

/// A whole message's payload as the message.
fn complete(opcode: u8, payload: BytesMut) -> Result<Taken, WsError> {
    if opcode == BINARY {
        return Ok(Taken::Binary(payload.len()));
    }
    let payload = payload.freeze();
    // `simdutf8` checks a 6 KB audio delta several times faster than `std::str::from_utf8`
    // (it is most of what a session receives), and says the same of every input.
    if simdutf8::basic::from_utf8(&payload).is_err() {
        return Err(WsError::Utf8);
    }
    // SAFETY: the bytes were checked to be UTF-8 just above, and `Bytes` is immutable.
    #[allow(unsafe_code)]
    let text = unsafe { Utf8Bytes::from_bytes_unchecked(payload) };
    Ok(Taken::Text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector UTF-8 check agrees with the standard library's, wherever in a long
    /// message (past the first vector blocks) the bad sequence sits.
    #[test]
    fn text_is_utf8_exactly_when_std_says_so() {
        let pieces: [&[u8]; 10] = [
            "é".as_bytes(),
            "€😀".as_bytes(),
            b"\xc3",             // cut short
            b"\xc3\x28",         // a bad continuation byte
            b"\xc0\xaf",         // overlong
            b"\xed\xa0\x80",     // a surrogate
            b"\xf4\x90\x80\x80", // past U+10FFFF
            b"\xff",
            b"\x80", // a lone continuation byte
            b"\x00",
        ];
        for piece in pieces {
            for at in [0usize, 1, 31, 63, 64, 100, 6399] {
                let mut bytes = vec![b'a'; at];
                bytes.extend_from_slice(piece);
                bytes.extend_from_slice(&[b'z'; 70]);
                let std_ok = std::str::from_utf8(&bytes).is_ok();
                match complete(TEXT, BytesMut::from(&bytes[..])) {
                    Ok(Taken::Text(t)) => {
                        assert!(std_ok, "{piece:x?} at {at} taken as UTF-8");
                        assert_eq!(t.as_bytes(), &bytes[..]);
                    }
                    Err(WsError::Utf8) => assert!(!std_ok, "{piece:x?} at {at} refused"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
