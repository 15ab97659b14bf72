//! The client side of a WebSocket connection (RFC 6455), after the upgrade
//! ([`super::handshake`]): frames read straight from the socket into one buffer and
//! messages split out of it without copying, pings answered, the close handshake, and
//! the client's frames masked and written.
//!
//! It does only what a Realtime session needs: no extensions, no subprotocols. One task
//! owns it (the connection task); nothing in it blocks or spawns.
//!
//! # Memory
//!
//! The socket is read into a buffer with room for [`READ_BYTES`] at each read; messages
//! are slices of it, so a message kept alive keeps its piece of the buffer (at most one
//! read's worth, plus the message) alive too. A message is refused once it would pass
//! `max_message_bytes`, before its payload is read; a fragmented one is joined into its
//! own buffer, also bounded by it. Pongs owed to a flood of pings that the socket does not
//! take are queued up to [`MAX_OWED_CONTROL`] bytes, and pings past that go unanswered
//! (RFC 6455 does not ask for a pong to every ping).

mod frame;
pub(crate) mod reader;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::io::{AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::io::poll_read_buf;

use frame::{CLOSE, PING, PONG, TEXT};
use reader::{Reader, Taken};

/// The socket under a connection, as [`super::handshake`] opens it: TCP, maybe TLS, read
/// through a buffer of [`READ_BYTES`].
pub(crate) type Socket = MaybeTlsStream<BufReader<TcpStream>>;

/// How much room each read of the socket has: the most one `recv` takes.
pub(crate) const READ_BYTES: usize = 64 << 10;

/// The most control frames (pongs, a close) waiting to be written; a pong past it is
/// dropped.
const MAX_OWED_CONTROL: usize = 1 << 10;

/// Above this, the write buffer's memory is given back once it is written out (after a
/// large event).
const KEEP_WRITE_BUFFER: usize = 256 << 10;

/// A message from the server.
#[derive(Debug)]
pub(crate) enum Message {
    /// A text message, checked to be UTF-8.
    Text(Utf8Bytes),
    /// A binary message: only its length is kept.
    Binary(usize),
    /// A ping (already answered) or a pong.
    Control,
    /// A close frame: the code and reason, if it had them. The reply is queued; flush it.
    Close(Option<(u16, String)>),
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// Reading or writing the socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The server broke RFC 6455.
    #[error("WebSocket protocol error: the server sent {0}")]
    Protocol(&'static str),
    /// A message larger than allowed.
    #[error("a WebSocket message of {size} bytes > {max}, the most accepted (`max_message_bytes`)")]
    TooLong {
        /// Its size, or the size it had reached.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A text message (or close reason) that is not UTF-8.
    #[error("a WebSocket text message that is not valid UTF-8")]
    Utf8,
}

impl WsError {
    /// The close code RFC 6455 gives for telling the server why (1002, 1007, 1009);
    /// `None` for a failed socket.
    pub(crate) fn close_code(&self) -> Option<u16> {
        match self {
            WsError::Io(_) => None,
            WsError::Protocol(_) => Some(1002),
            WsError::TooLong { .. } => Some(1009),
            WsError::Utf8 => Some(1007),
        }
    }
}

/// One WebSocket connection, client side.
pub(crate) struct WsConn {
    io: Socket,
    reader: Reader,
    /// Frames written out in order: `out[written..]` is still to go.
    out: Vec<u8>,
    written: usize,
    close_sent: bool,
    /// The socket ended or failed: nothing more is read.
    ended: bool,
}

impl WsConn {
    /// Takes over `io` after the upgrade; `rest` is what was read past the `101` answer.
    pub(crate) fn new(io: Socket, rest: &[u8], max_message: usize) -> Self {
        WsConn {
            io,
            reader: Reader::new(rest, READ_BYTES, max_message),
            out: Vec::new(),
            written: 0,
            close_sent: false,
            ended: false,
        }
    }

    /// The next message; `None` once the socket has ended between messages (an end in
    /// the middle of one is an error). Cancel-safe: a message is taken whole or not at
    /// all.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, WsError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        // A pong or close reply owed goes out as the socket takes it, never waited for.
        if self.written < self.out.len()
            && let Poll::Ready(Err(e)) = self.poll_write_out(cx)
        {
            self.ended = true;
            return Poll::Ready(Some(Err(e.into())));
        }
        loop {
            match self.take_frame() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let buffer = self.reader.buffer(READ_BYTES);
            match ready!(poll_read_buf(Pin::new(&mut self.io), cx, buffer)) {
                Ok(0) => {
                    self.ended = true;
                    if !self.reader.is_mid_message() {
                        return Poll::Ready(None);
                    }
                    let cut = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server ended the connection in the middle of a message",
                    );
                    return Poll::Ready(Some(Err(cut.into())));
                }
                Ok(_) => {}
                Err(e) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    /// The next frame that completes a message or is a control frame, with pongs and
    /// close replies queued; `None` when more bytes are needed.
    fn take_frame(&mut self) -> Result<Option<Message>, WsError> {
        let Some(taken) = self.reader.take()? else {
            return Ok(None);
        };
        Ok(Some(match taken {
            Taken::Text(text) => Message::Text(text),
            Taken::Binary(len) => Message::Binary(len),
            Taken::Ping(payload) => {
                if self.out.len() - self.written < MAX_OWED_CONTROL && !self.close_sent {
                    self.queue(PONG, &payload);
                }
                Message::Control
            }
            Taken::Pong => Message::Control,
            Taken::Close(close) => {
                if !self.close_sent {
                    // The reply echoes the status code (RFC 6455 §5.5.1).
                    let code = close.as_ref().map(|(c, _)| c.to_be_bytes());
                    self.queue(CLOSE, code.as_ref().map_or(&[][..], |c| &c[..]));
                    self.close_sent = true;
                }
                Message::Close(close)
            }
        }))
    }

    /// Appends a frame to the write buffer.
    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        frame::write_frame(&mut self.out, opcode, payload, rand::random());
    }

    /// Sends a text message. Not cancel-safe: dropped part way, the message may be cut
    /// (and the connection with it).
    pub(crate) async fn send_text(&mut self, text: &[u8]) -> Result<(), WsError> {
        self.queue(TEXT, text);
        self.flush().await
    }

    /// Sends a ping.
    pub(crate) async fn send_ping(&mut self) -> Result<(), WsError> {
        self.queue(PING, b"");
        self.flush().await
    }

    /// Sends a close frame with `code` (once; later calls only flush).
    pub(crate) async fn close(&mut self, code: u16) -> Result<(), WsError> {
        if !self.close_sent {
            self.queue(CLOSE, &code.to_be_bytes());
            self.close_sent = true;
        }
        self.flush().await
    }

    /// Writes out what is queued (a reply to the server's close, say).
    pub(crate) async fn flush(&mut self) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_write_out(cx)).await?;
        Ok(())
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.out.clear();
        self.written = 0;
        if self.out.capacity() > KEEP_WRITE_BUFFER {
            self.out = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl Stream for WsConn {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}
