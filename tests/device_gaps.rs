//! Gaps in the device's play times (`PlaybackMetrics::device_gaps`) are counted only
//! where the audio heard has them. Real cpal streams into the headless PipeWire rig, the
//! simulator's audio over a real WebSocket. Run as `scripts/audio-rig.sh run cargo test`.
#![cfg(all(feature = "audio", feature = "mock"))]
#![allow(clippy::await_holding_lock)]

mod rig;

use std::time::Duration;

use rig::{Recorder, onset, pcm_to_f32, rms, snr};
use vivavoce::audio::{PlaybackOptions, stream};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{Item, ServerEvent, connect};

const RATE: u32 = 48_000;
/// The blocks the recording is followed in: 10 ms.
const BLOCK: usize = 480;
/// How far the content may move between two blocks that match: 40 ms either way.
const REACH: usize = 1_920;
/// A block matches where its SNR against the expected audio is at least this (a
/// correlation of 0.99).
const MATCH_DB: f64 = 17.0;

/// How the content moved through a recording of `expected`: the pieces lost (content
/// that jumped ahead) and the pauses (content that came late), each of `min` samples
/// or more, from following it block by block from `offset` (where it starts).
fn follow(recorded: &[f32], expected: &[f32], offset: usize, min: usize) -> (usize, usize) {
    let loud = 0.1 * rms(expected);
    let score = |e: usize, r: usize| snr(&recorded[r..r + BLOCK], &expected[e..e + BLOCK]);
    // Where block `e` of the expected audio sits in the recording: `r - e`, kept as a
    // signed shift.
    let mut shift = offset as i64;
    let mut shifts = Vec::new();
    for e in (0..expected.len().saturating_sub(BLOCK)).step_by(BLOCK) {
        if rms(&expected[e..e + BLOCK]) < loud {
            continue; // a pause in the speech: nothing to follow
        }
        let at = |s: i64| {
            usize::try_from(e as i64 + s)
                .ok()
                .filter(|r| r + BLOCK <= recorded.len())
        };
        // Where it was (within a sample or two), else anywhere within reach.
        let near = (-2..=2).filter_map(|d| Some((shift + d, score(e, at(shift + d)?))));
        let mut best = near.fold((shift, f64::MIN), |b, c| if c.1 > b.1 { c } else { b });
        if best.1 < MATCH_DB {
            let reach = REACH as i64;
            let far = (-reach..=reach).filter_map(|d| Some((shift + d, score(e, at(shift + d)?))));
            best = far.fold(best, |b, c| if c.1 > b.1 { c } else { b });
        }
        if best.1 >= MATCH_DB {
            shift = best.0;
            shifts.push(shift);
        }
    }
    // A block across a cut can match some other shift by chance: a shift counts only
    // where three blocks in a row that matched have it.
    let mut runs: Vec<(i64, usize)> = Vec::new();
    for s in shifts {
        match runs.last_mut() {
            Some((at, n)) if (s - *at).abs() <= 2 => *n += 1,
            _ => runs.push((s, 1)),
        }
    }
    let settled: Vec<i64> = runs.iter().filter(|r| r.1 >= 3).map(|r| r.0).collect();
    let (mut lost, mut paused) = (0, 0);
    for w in settled.windows(2) {
        let moved = w[1] - w[0];
        if moved <= -(min as i64) {
            lost += 1;
        } else if moved >= min as i64 {
            paused += 1;
        }
    }
    (lost, paused)
}

/// The measurement itself, on a made-up recording: two pieces cut out (128 samples, one
/// graph cycle, and 256) and one 10 ms pause put in are found as such, and a clean copy
/// shows nothing.
#[test]
fn follow_finds_cut_pieces_and_pauses() {
    // Noise under a slow envelope: no piece of it looks like another.
    let mut seed = 0x2545_f491_u32;
    let expected: Vec<f32> = (0..RATE as usize * 2)
        .map(|n| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let t = n as f32 / RATE as f32;
            (0.6 + 0.4 * (t * 3.1).sin()) * ((seed >> 8) as f32 / (1 << 24) as f32 - 0.5)
        })
        .collect();
    let pad = 4_800;
    let mut clean = vec![0.0; pad];
    clean.extend_from_slice(&expected);
    clean.extend(vec![0.0; pad]);
    assert_eq!(follow(&clean, &expected, pad, 64), (0, 0));
    let mut cut = vec![0.0; pad];
    cut.extend_from_slice(&expected[..30_000]);
    cut.extend_from_slice(&expected[30_128..60_000]);
    cut.extend(vec![0.0; 480]);
    cut.extend_from_slice(&expected[60_000..70_000]);
    cut.extend_from_slice(&expected[70_256..]);
    cut.extend(vec![0.0; pad]);
    assert_eq!(follow(&cut, &expected, pad, 64), (2, 1));
}

/// A reply on the default device period (the smallest the device takes). Every gap
/// counted must be a cut (or a pause) the recording has: a gap is never made up from
/// play times that only jitter.
///
/// The other way does not hold on this rig, and is not asserted: its recordings lose
/// whole 128-sample graph cycles now and then on a busy host (8 in one 3.3 s reply here)
/// while the play times cpal reports stay regular to within 11 µs, with no underrun
/// reported. Nothing in the stream shows those cuts, and the recorder (a follower of the
/// same graph) may be what missed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_counted_are_cuts_the_recording_has() {
    let _rig = rig::rig();
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    // Enough held back that the ring never runs dry: a cut can only be the device's.
    let options = PlaybackOptions::new(tx.clone())
        .forward_audio(true)
        .prebuffer(Duration::from_millis(80));
    let (mut events, playback) = stream(rx, options).await.unwrap();
    let rec = Recorder::start("speaker", RATE).await;
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    let mut sent = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("events stopped")
            .expect("session ended");
        if let ServerEvent::ResponseOutputAudioDelta(d) = &ev {
            sent.extend(d.pcm16().unwrap());
        }
        if matches!(ev, ServerEvent::ResponseDone(_)) {
            break;
        }
    }
    playback.drain().await.unwrap();
    let recorded = rec.finish().await;
    let m = playback.metrics();
    playback.stop().await;

    let expected = rig::resample(&pcm_to_f32(&sent), 24_000, RATE);
    let start = onset(&recorded, RATE, 0.01).expect("nothing was played");
    let first = onset(&expected, RATE, 0.01).unwrap();
    let (offset, snr_db) = rig::align(&recorded, &expected, start.saturating_sub(first), 960);
    // A cycle of the graph is 128 samples at 48 kHz; anything from 64 counts.
    let (lost, paused) = follow(&recorded, &expected, offset, 64);
    eprintln!(
        "{:?} played at {} frames a callback: {lost} pieces lost and {paused} pauses in the \
         recording; counted {} gaps ({:?}) and {} device underruns, {} ring underruns; \
         whole-recording SNR {snr_db:.1} dB",
        m.played,
        m.period_frames,
        m.device_gaps,
        m.device_gap_time,
        m.device_underruns,
        m.underruns
    );
    assert_eq!(m.underruns, 0, "the ring ran dry: {m:?}");
    assert!(
        m.device_gaps as usize <= lost + paused + 1,
        "{} gaps counted, but the recording shows {lost} cuts and {paused} pauses: {m:?}",
        m.device_gaps
    );
}
