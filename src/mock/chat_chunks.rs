//! A simulated answer (its text pieces or tool call), and how its events are written in
//! any wire format.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use super::chat_options::{ChatFault, ChatSimulatorOptions};
use super::chat_reply::Reply;
use super::chat_wire::SimWire;

/// Writes the streamed answer in `wire`'s format, applying `fault` and the options'
/// framing.
///
/// Events go through a 64 KiB buffer: with no `chunk_delay` the answer leaves as fast as
/// the socket takes it, many events to a write, as from any buffered server; a delay, a
/// stall or split writes flush each event on its own. The body ends at the close of the
/// connection, or, with `chunked`, is HTTP/1.1 chunked with one chunk per event.
pub(crate) async fn stream(
    tcp: &mut TcpStream,
    options: &ChatSimulatorOptions,
    fault: &ChatFault,
    wire: SimWire,
    reply: &Reply,
    include_usage: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncache-control: no-cache\r\n{}connection: close\r\n\r\n",
        wire.stream_type(),
        if options.chunked {
            "transfer-encoding: chunked\r\n"
        } else {
            ""
        }
    );
    let mut out = Framed {
        out: BufWriter::with_capacity(64 << 10, tcp),
        chunked: options.chunked,
    };
    out.out.write_all(head.as_bytes()).await?;
    let comments = options.comments && wire != SimWire::Ollama;
    if comments {
        out.event(": OPENROUTER PROCESSING\n\n", false).await?;
    }
    // Rendered before the first byte, so building JSON does not pace the writes.
    let events = wire.events(reply, include_usage);
    let each_on_its_own = !options.chunk_delay.is_zero() || options.split_writes;
    for (i, rendered) in events.iter().enumerate() {
        match *fault {
            // Chunked, this ends the body mid-way (no last chunk): a broken transfer.
            ChatFault::DropAfterChunks(n) if i == n => return out.out.shutdown().await,
            ChatFault::StallAfterChunks(n, d) if i == n => {
                out.out.flush().await?;
                tokio::time::sleep(d).await;
            }
            ChatFault::ErrorAfterChunks(n) if i == n => {
                out.event(&wire.error_event(), false).await?;
                if options.chunked {
                    out.out.write_all(b"0\r\n\r\n").await?;
                }
                return out.out.shutdown().await;
            }
            _ => {}
        }
        let event = if *fault == ChatFault::MalformedChunk(i) {
            wire.malformed()
        } else {
            rendered
        };
        out.event(event, options.split_writes).await?;
        if comments && i % 5 == 4 {
            out.event(": keep-alive\n\n", false).await?;
        }
        if each_on_its_own {
            out.out.flush().await?;
        }
        if !options.chunk_delay.is_zero() {
            tokio::time::sleep(options.chunk_delay).await;
        }
    }
    if options.chunked {
        out.out.write_all(b"0\r\n\r\n").await?;
    }
    out.out.shutdown().await
}

/// Writes `body` as the answer, byte for byte ([`ChatSimulatorOptions::raw_stream`]).
pub(crate) async fn raw(tcp: &mut TcpStream, body: &str) -> io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await?;
    tcp.shutdown().await
}

/// The response body's writer: plain, or one HTTP/1.1 chunk per event.
struct Framed<W> {
    out: W,
    chunked: bool,
}

impl<W: AsyncWrite + Unpin> Framed<W> {
    /// Writes one event, in two flushed pieces split inside a multi-byte character if
    /// asked (within one HTTP chunk, when chunked).
    async fn event(&mut self, event: &str, split: bool) -> io::Result<()> {
        if self.chunked {
            let size = format!("{:x}\r\n", event.len());
            self.out.write_all(size.as_bytes()).await?;
        }
        let at = split
            .then(|| {
                event
                    .char_indices()
                    .find(|(_, c)| c.len_utf8() > 1)
                    .map(|(i, _)| i + 1)
            })
            .flatten();
        if let Some(at) = at {
            self.out.write_all(&event.as_bytes()[..at]).await?;
            self.out.flush().await?;
            // Give the first piece time to leave as its own segment.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            self.out.write_all(&event.as_bytes()[at..]).await?;
        } else {
            self.out.write_all(event.as_bytes()).await?;
        }
        if self.chunked {
            self.out.write_all(b"\r\n").await?;
        }
        Ok(())
    }
}
