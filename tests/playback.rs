//! Playback through real cpal streams into the headless PipeWire rig, with the
//! simulator's audio over a real WebSocket. Run as `scripts/audio-rig.sh run cargo test`.
#![cfg(all(feature = "audio", feature = "mock"))]

mod rig;

use std::time::{Duration, Instant};

use rig::{Recorder, align, onset, pcm_to_f32, rms, snr};
use vivavoce::Error;
use vivavoce::audio::{OutputTarget, Playback, PlaybackOptions, stream};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{
    AudioInput, ConversationItemCreate, EventReceiver, EventSender, InputAudioBufferAppend, Item,
    ResponseCreate, ServerEvent, Session, SessionAudio, SessionUpdate, connect,
};

const LONG: &str = "This reply is long enough to be interrupted in the middle of a word, \
                    with plenty of syllables left to play after the cut.";

async fn session(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    (sim, tx, rx)
}

async fn ask(tx: &EventSender) {
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
}

/// Collects events until `until` matches; returns them and the PCM of forwarded deltas.
async fn collect(
    events: &mut EventReceiver,
    until: impl Fn(&ServerEvent) -> bool,
) -> (Vec<ServerEvent>, Vec<i16>) {
    let mut seen = Vec::new();
    let mut pcm = Vec::new();
    let deadline = Duration::from_secs(30);
    loop {
        let ev = tokio::time::timeout(deadline, events.recv())
            .await
            .expect("events stopped")
            .expect("session ended");
        if let ServerEvent::ResponseOutputAudioDelta(d) = &ev {
            pcm.extend(d.pcm16().unwrap());
        }
        let stop = until(&ev);
        seen.push(ev);
        if stop {
            return (seen, pcm);
        }
    }
}

fn is_done(ev: &ServerEvent) -> bool {
    matches!(ev, ServerEvent::ResponseDone(_))
}

/// Where the played copy of `sent` (24 kHz) starts in a recording at `rate`, and the SNR.
fn compare(recorded: &[f32], rate: u32, sent: &[i16]) -> (usize, f64) {
    let expected = rig::resample(&pcm_to_f32(sent), 24_000, rate);
    let start = onset(recorded, rate, 0.01).expect("nothing was played");
    let first = onset(&expected, rate, 0.01).unwrap();
    align(recorded, &expected, start.saturating_sub(first), (rate / 50) as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_audio_plays_in_order_without_gaps() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default()).await;
    let (mut events, playback) =
        stream(rx, PlaybackOptions::new(tx.clone()).forward_audio(true)).unwrap();
    assert_eq!(playback.output().sample_rate, 48_000);
    let rec = Recorder::start("speaker", 48_000).await;
    ask(&tx).await;
    let (seen, sent) = collect(&mut events, is_done).await;
    playback.drain().await.unwrap();
    let recorded = rec.finish().await;
    assert!(sent.len() > 24_000, "a second or more of audio");
    // Every other event came through, in order.
    let kinds: Vec<&str> = seen.iter().map(|e| e.event_type()).collect();
    let created = kinds.iter().position(|k| *k == "response.created").unwrap();
    let audio_done = kinds.iter().position(|k| *k == "response.output_audio.done").unwrap();
    assert!(created < audio_done && audio_done < kinds.len() - 1);
    let (_, snr_db) = compare(&recorded, 48_000, &sent);
    assert!(snr_db > 30.0, "played audio differs from what was sent: SNR {snr_db:.1} dB");
    let m = playback.metrics();
    assert_eq!(m.underruns, 0, "{m:?}");
    let sent_time = Duration::from_secs_f64(sent.len() as f64 / 24_000.0);
    let diff = m.played.abs_diff(sent_time);
    assert!(diff < Duration::from_millis(1), "played {:?} of {sent_time:?}", m.played);
}
