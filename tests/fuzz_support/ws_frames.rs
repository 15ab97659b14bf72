//! `ws_frames`: the Realtime WebSocket's frame reader gives the same messages, control
//! frames and error for the same bytes, whole or cut anywhere, and never holds a message
//! over its limit.

use vivavoce::realtime::fuzz::WsReader;

/// What was taken, and how the bytes ended: the error, or whether a message is unfinished.
type Outcome = (Vec<String>, Result<bool, String>);

fn read(max: usize, pieces: &[&[u8]]) -> Outcome {
    let mut r = WsReader::new(max);
    let mut out = Vec::new();
    for piece in pieces {
        r.feed(piece);
        loop {
            match r.take() {
                Ok(Some(taken)) => out.push(taken),
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, Ok(r.is_mid_message()))
}

/// The first byte picks the message limit (small ones to reach it), the next two seed the
/// split points; the rest is what the server sent.
pub fn ws_frames(data: &[u8]) {
    let [head, s0, s1, body @ ..] = data else {
        return;
    };
    let max = match head % 3 {
        0 => usize::from(head / 3),
        1 => 126 + usize::from(*head) * 8,
        _ => 16 << 20,
    };
    let seed = u64::from(u16::from_le_bytes([*s0, *s1]));
    let cut = super::pieces(body, seed);
    let bytes: Vec<&[u8]> = body.iter().map(std::slice::from_ref).collect();

    let whole = read(max, &[body]);
    assert_eq!(read(max, &cut), whole, "cut as {cut:?}");
    assert_eq!(read(max, &bytes), whole, "fed byte by byte");
    for taken in &whole.0 {
        if let Some(binary) = taken.strip_prefix("binary ") {
            assert!(binary.parse::<usize>().unwrap() <= max, "{taken}");
        }
        if let Some(text) = taken.strip_prefix("text ") {
            // Debug-quoted: at least as long as the text.
            assert!(text.len() >= 2, "{taken}");
        }
    }
}
