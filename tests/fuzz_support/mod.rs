//! The properties the fuzz targets in `fuzz/` check, one function per target. Each panics
//! when its property does not hold; `tests/fuzz_regressions.rs` runs the inputs the
//! fuzzers once failed on through the same functions.

// Each fuzz target uses one of these.
#![allow(dead_code, unused_imports)]

mod chat;
mod framing;
mod realtime;
mod ws_frames;

pub use chat::{chat_fast_path, chat_wires};
pub use framing::sse_split;
pub use realtime::{audio_delta, client_event_roundtrip, schema_validate, server_event};
pub use ws_frames::ws_frames;

/// A small xorshift generator, so that inputs decide their own split points.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Cuts `body` into pieces (some empty, some one byte) at points derived from `seed`.
pub(crate) fn pieces(body: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = Rng::new(seed);
    let longest = 1 + rng.below(64);
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = rng.below(longest + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}
