//! The chunks of a simulated Chat Completions answer, and how they are written.

use std::io;

use serde_json::{Value, json};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use super::chat_options::{ChatFault, ChatSimulatorOptions};

/// One answer: the same id on every chunk.
pub(crate) struct Reply {
    id: String,
    created: u64,
    model: String,
    /// Content pieces, one per chunk.
    pieces: Vec<String>,
    /// `(call id, name, argument pieces)` for a tool call.
    tool: Option<(String, String, Vec<String>)>,
}

impl Reply {
    /// The answer `text`, cut and framed as `options` say.
    pub(crate) fn new(options: &ChatSimulatorOptions, text: &str, model: &str) -> Self {
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let pieces = match options.chunk_count {
            Some(n) => (0..n)
                .map(|i| words[i % words.len().max(1)].clone())
                .collect(),
            None => words,
        };
        let tool = options.tool_call.as_ref().map(|(name, args)| {
            let chars: Vec<char> = args.chars().collect();
            let parts = chars
                .chunks(chars.len().div_ceil(4).max(1))
                .map(|c| c.iter().collect())
                .collect();
            ("call_sim0001".to_owned(), name.clone(), parts)
        });
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Reply {
            id: format!("chatcmpl-sim{created}"),
            created,
            model: model.to_owned(),
            pieces,
            tool,
        }
    }

    fn text(&self) -> String {
        self.pieces.concat()
    }

    fn usage(&self) -> Value {
        let out = self.pieces.len() as u64;
        json!({ "prompt_tokens": 12, "completion_tokens": out, "total_tokens": 12 + out })
    }

    fn finish_reason(&self) -> &'static str {
        if self.tool.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
    }

    /// The non-streaming answer.
    pub(crate) fn completion(&self) -> Value {
        let mut message = json!({ "role": "assistant", "content": null, "refusal": null });
        match &self.tool {
            Some((id, name, parts)) => {
                message["tool_calls"] = json!([{ "id": id, "type": "function",
                    "function": { "name": name, "arguments": parts.concat() } }]);
            }
            None => message["content"] = json!(self.text()),
        }
        json!({ "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason() }],
            "usage": self.usage() })
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
        let mut c = json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": null,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }] });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    /// Every chunk in order (the usage-only chunk last when asked for).
    fn chunks(&self, include_usage: bool) -> Vec<Value> {
        let mut out = vec![self.chunk(
            json!({ "role": "assistant", "content": "", "refusal": null }),
            None,
            include_usage,
        )];
        match &self.tool {
            Some((id, name, parts)) => {
                let first = json!({ "tool_calls": [{ "index": 0, "id": id, "type": "function",
                    "function": { "name": name, "arguments": "" } }] });
                out.push(self.chunk(first, None, include_usage));
                for p in parts {
                    let more =
                        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": p } }] });
                    out.push(self.chunk(more, None, include_usage));
                }
            }
            None => {
                for p in &self.pieces {
                    out.push(self.chunk(json!({ "content": p }), None, include_usage));
                }
            }
        }
        out.push(self.chunk(json!({}), Some(self.finish_reason()), include_usage));
        if include_usage {
            out.push(json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": null, "choices": [], "usage": self.usage() }));
        }
        out
    }
}

/// Writes the SSE answer, applying the options' faults.
///
/// Events go through a 64 KiB buffer: with no `chunk_delay` the answer leaves as fast as
/// the socket takes it, many events to a write, as from any buffered server; a delay, a
/// stall or split writes flush each event on its own. The body ends at the close of the
/// connection, or, with `chunked`, is HTTP/1.1 chunked with one chunk per event.
pub(crate) async fn stream(
    tcp: &mut TcpStream,
    options: &ChatSimulatorOptions,
    reply: &Reply,
    include_usage: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n{}connection: close\r\n\r\n",
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
    if options.comments {
        out.event(": OPENROUTER PROCESSING\n\n", false).await?;
    }
    // Rendered before the first byte, so building JSON does not pace the writes.
    let events: Vec<String> = reply
        .chunks(include_usage)
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect();
    let each_on_its_own = !options.chunk_delay.is_zero() || options.split_writes;
    for (i, rendered) in events.iter().enumerate() {
        match options.fault {
            // Chunked, this ends the body mid-way (no last chunk): a broken transfer.
            ChatFault::DropAfterChunks(n) if i == n => return out.out.shutdown().await,
            ChatFault::StallAfterChunks(n, d) if i == n => {
                out.out.flush().await?;
                tokio::time::sleep(d).await;
            }
            _ => {}
        }
        let event = if options.fault == ChatFault::MalformedChunk(i) {
            "data: {not json\n\n"
        } else {
            rendered
        };
        out.event(event, options.split_writes).await?;
        if options.comments && i % 5 == 4 {
            out.event(": keep-alive\n\n", false).await?;
        }
        if each_on_its_own {
            out.out.flush().await?;
        }
        if !options.chunk_delay.is_zero() {
            tokio::time::sleep(options.chunk_delay).await;
        }
    }
    out.event("data: [DONE]\n\n", false).await?;
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
