//! Inputs the fuzz targets in `fuzz/` once failed on, run through the same checks: each
//! file in `tests/fixtures/fuzz/<target>/` is one input to that target.

mod fuzz_support;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("an input");
        eprintln!("{}", file.display());
        check(&data);
    }
}

/// A body cut between reads was refused or not depending on where the cut fell: an
/// `event:` line over the cap was refused only when it arrived in two reads.
#[test]
fn sse_split() {
    replay("sse_split", fuzz_support::sse_split);
}

/// A chunk naming choice 4294967295 made the accumulator build every choice before it.
#[test]
fn chat_wires() {
    replay("chat_wires", fuzz_support::chat_wires);
}

/// An ignored number with a 70-digit exponent: the fast path skipped it, serde refuses it
/// as out of range.
#[test]
fn chat_fast_path() {
    replay("chat_fast_path", fuzz_support::chat_fast_path);
}

/// Two `type` keys: the typed reading takes the first, the raw object keeps the last, so
/// the property holds for the text with its repeated keys dropped.
#[test]
fn client_event_roundtrip() {
    replay(
        "client_event_roundtrip",
        fuzz_support::client_event_roundtrip,
    );
}

/// `AA=?` is not base64, but its length alone implies one byte: it was refused as an odd
/// number of PCM16 bytes rather than as invalid base64.
#[test]
fn audio_delta() {
    replay("audio_delta", fuzz_support::audio_delta);
}

/// No input has failed `ws_frames` yet; its seeds (`fuzz/seeds/ws_frames/`: events,
/// fragments around a ping, a close, a message over the limit) run here so the property
/// is checked on stable too.
#[test]
fn ws_frames_seeds() {
    seeds("ws_frames", fuzz_support::ws_frames, 5);
}

/// The seeds of `server_event` (one event of each type, beta names among them): the
/// delta events read without serde must come out as serde reads them.
#[test]
fn server_event_seeds() {
    seeds("server_event", fuzz_support::server_event, 40);
}

fn seeds(target: &str, check: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("a directory entry").path()).expect("an input");
        check(&data);
        n += 1;
    }
    assert!(n >= at_least, "{n} seeds in {}", dir.display());
}
