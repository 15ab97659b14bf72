//! Internals exposed for the fuzz targets in `fuzz/` and their regression tests; not part
//! of the API.

use super::delta::{Delta, DeltaError, Names};
use super::framing::LineParser;
use super::read::Read;
use super::sse::{SseEvent, TooLarge};
use super::wire::{self, Reader, Wire};

/// Every wire format, in the order the fuzz targets pick them.
pub const WIRES: [Wire; 5] = [
    Wire::OpenAI,
    Wire::Anthropic,
    Wire::Gemini,
    Wire::Ollama,
    Wire::Responses,
];

/// The newline-delimited JSON framer (Ollama's stream).
#[derive(Debug)]
pub struct LineFramer(LineParser);

impl LineFramer {
    /// A framer refusing lines over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        LineFramer(LineParser::new(limit))
    }

    /// Feeds bytes; calls `emit` for each line completed by them.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] when a line grows past the limit.
    pub fn feed(&mut self, bytes: &[u8], emit: impl FnMut(SseEvent)) -> Result<(), TooLarge> {
        self.0.feed(bytes, emit)
    }

    /// The body ended: its last line, if it had no newline.
    pub fn finish(&mut self, emit: impl FnMut(SseEvent)) {
        self.0.finish(emit);
    }
}

/// What one event meant to a stream reader.
#[derive(Debug)]
pub enum Outcome {
    /// A delta to deliver.
    Delta(Delta),
    /// The last event, with its delta.
    Last(Delta),
    /// An end marker.
    Stop,
}

/// A wire format's stream reader.
#[derive(Debug)]
pub struct StreamReader(Reader);

impl StreamReader {
    /// A reader for `wire`'s stream events.
    pub fn new(wire: Wire) -> Self {
        StreamReader(Reader::new(wire))
    }

    /// Reads one event's data.
    ///
    /// # Errors
    ///
    /// [`DeltaError`] when the event cannot be read.
    pub fn read(&mut self, data: &str) -> Result<Outcome, DeltaError> {
        Ok(match self.0.read(data)? {
            Read::Delta(d) => Outcome::Delta(d),
            Read::Last(d) => Outcome::Last(d),
            Read::Stop => Outcome::Stop,
        })
    }

    /// Whether the body ending now is a normal end.
    pub fn ends_at_eof(&self) -> bool {
        self.0.ends_at_eof()
    }
}

/// Reads a whole, non-streamed answer of `wire`.
///
/// # Errors
///
/// [`DeltaError`] when the answer cannot be read.
pub fn parse_whole(wire: Wire, text: &str) -> Result<Delta, DeltaError> {
    wire::parse_whole(wire, text)
}

/// Which fast paths took `data`, after checking that each reads it exactly as serde does.
///
/// # Panics
///
/// When a fast path's reading differs from serde's, with both.
pub fn check_fast_paths(data: &str) -> FastPaths {
    let mut taken = FastPaths::default();
    if let Some(fast) = super::fast_path::chunk(data, &mut Names::default()) {
        let serde = Delta::parse_sharing(data, &mut Names::default());
        assert_eq!(Ok(&fast), serde.as_ref(), "chunk {data:?}");
        taken.chunk = true;
    }
    if let Some(choice) = super::fast_path::responses_text(data) {
        let mut state = super::responses::StreamState::default();
        match state.read_with_serde(data) {
            Ok(Read::Delta(d)) => assert_eq!(d.choices, [choice], "Responses event {data:?}"),
            other => panic!("Responses event {data:?}: fast path took it, serde read {other:?}"),
        }
        taken.responses = true;
    }
    let mut fast = super::gemini::StreamState::default();
    if let Some(delta) = fast.scan(data) {
        let mut serde = super::gemini::StreamState::default();
        match serde.read_with_serde(data) {
            Ok(Read::Delta(d)) => assert_eq!(d, delta, "Gemini event {data:?}"),
            other => panic!("Gemini event {data:?}: fast path took it, serde read {other:?}"),
        }
        taken.gemini = true;
    }
    taken
}

/// Which fast paths took an event: see [`check_fast_paths`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FastPaths {
    /// A Chat Completions chunk.
    pub chunk: bool,
    /// A Responses API text event.
    pub responses: bool,
    /// A Gemini event of plain text parts.
    pub gemini: bool,
}
