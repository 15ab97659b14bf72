//! `sse_split`: the SSE parser and the NDJSON line framer read a body the same whole or
//! cut anywhere.

use vivavoce::chat::fuzz::LineFramer;
use vivavoce::chat::{SseEvent, SseParser, TooLarge};

/// The events read, and how the body ended: the error, or whether a partial event waits.
type Outcome = (Vec<SseEvent>, Result<bool, TooLarge>);

fn sse(limit: usize, pieces: &[&[u8]]) -> Outcome {
    let mut p = SseParser::new(limit);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = p.feed(piece, |e| out.push(e)) {
            return (out, Err(e));
        }
    }
    (out, Ok(p.has_partial()))
}

fn lines(limit: usize, pieces: &[&[u8]]) -> Outcome {
    let mut p = LineFramer::new(limit);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = p.feed(piece, |e| out.push(e)) {
            return (out, Err(e));
        }
    }
    p.finish(|e| out.push(e));
    (out, Ok(false))
}

/// The first byte picks the size cap (small ones to reach [`TooLarge`]), the next two seed
/// the split points; the rest is the body.
pub fn sse_split(data: &[u8]) {
    let [head, s0, s1, body @ ..] = data else {
        return;
    };
    let limit = match head % 4 {
        0 => usize::from(head / 4),
        1 => 64 + usize::from(*head) * 4,
        _ => 1 << 20,
    };
    let seed = u64::from(u16::from_le_bytes([*s0, *s1]));
    let cut = super::pieces(body, seed);
    let bytes: Vec<&[u8]> = body.iter().map(std::slice::from_ref).collect();

    let whole = sse(limit, &[body]);
    assert_eq!(sse(limit, &cut), whole, "SSE cut as {cut:?}");
    assert_eq!(sse(limit, &bytes), whole, "SSE fed byte by byte");

    let whole = lines(limit, &[body]);
    assert_eq!(lines(limit, &cut), whole, "lines cut as {cut:?}");
    assert_eq!(lines(limit, &bytes), whole, "lines fed byte by byte");
    for e in &whole.0 {
        assert!(!e.data.contains('\n'), "a line with a newline: {e:?}");
    }
}
