//! Playback of a WebRTC call: the reply arrives on the track at its own pace, after the
//! channel's last events, and the server holds the playout. `drain` waits for the
//! server's `output_audio_buffer.stopped`; barge-in asks the server to clear, and
//! playback clears when the server says `output_audio_buffer.cleared`.
#![cfg(all(feature = "audio", feature = "mock", feature = "webrtc"))]
#![allow(clippy::await_holding_lock)]

mod rig;

use std::time::Duration;

use rig::{Recorder, onset, pcm_to_f32};
use vivavoce::audio::{OutputTarget, PlaybackOptions, stream};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, InputAudioBufferAppend, ResponseCreate};
use vivavoce::realtime::webrtc::connect;
use vivavoce::realtime::{EventReceiver, EventSender, Item, ServerEvent};

const LONG: &str = "This reply is long enough to be interrupted in the middle of a word, \
                    with plenty of syllables left to play after the cut.";

async fn call(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, rx, _call) = connect(sim.call_options()).await.unwrap();
    (sim, tx, rx)
}

async fn until(events: &mut EventReceiver, ty: &str) -> Vec<ServerEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("events stopped")
            .expect("the call ended");
        let stop = ev.event_type() == ty;
        seen.push(ev);
        if stop {
            return seen;
        }
    }
}

/// The user speaks (1 s of a tone, then 700 ms of silence), in real time as capture
/// would send it, from a task of its own.
fn speak(tx: &EventSender) {
    let speaker = tx.clone();
    tokio::spawn(async move {
        let mut pcm: Vec<i16> = (0..24_000)
            .map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16)
            .collect();
        pcm.extend(std::iter::repeat_n(0, 700 * 24));
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in pcm.chunks(480) {
            tick.tick().await;
            let appended = speaker.send(InputAudioBufferAppend::from_pcm16(chunk));
            if appended.await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_after_response_done_waits_for_the_servers_playout() {
    let _serial = rig::serial();
    let path = rig::temp("webrtc-drain.wav");
    let text = "A reply that plays out after its last event.";
    let (_sim, tx, rx) = call(
        SimulatorOptions::default()
            .reply_text(text)
            .pace(Pace::Fast),
    )
    .await;
    let target = OutputTarget::Wav {
        path: path.clone(),
        sample_rate: 24_000,
        channels: 1,
    };
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()).target(target))
        .await
        .unwrap();
    tx.send(ConversationItemCreate::new(Item::user_text("Hi")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    // The channel's events run ahead of the audio: response.done comes long before the
    // track has carried the reply.
    let seen = until(&mut events, "response.done").await;
    assert!(
        seen.iter()
            .any(|e| e.event_type() == "output_audio_buffer.started"),
        "the playout started before response.done"
    );
    playback.drain().await.unwrap();
    // Everything the server played out was played here too.
    let voice = vivavoce::mock::voice::synthesize(text);
    let played = playback.metrics().played;
    let spoken = Duration::from_secs_f64(voice.len() as f64 / 24_000.0);
    assert!(
        played + Duration::from_millis(60) >= spoken,
        "drain resolved after {played:?} of {spoken:?}"
    );
    playback.stop().await;
    let written = hound::WavReader::open(&path).unwrap().len() as usize;
    assert!(
        written + 1440 >= voice.len(),
        "{written} samples written of {}",
        voice.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_asks_the_server_to_clear_and_clears_on_cleared() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = call(SimulatorOptions::default().reply_text(LONG)).await;
    let (mut events, playback) = stream(rx, rig::steady(PlaybackOptions::new(tx.clone()), 48_000))
        .await
        .unwrap();
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    until(&mut events, "output_audio_buffer.started").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The user talks over the reply, in real time as capture would send it.
    speak(&tx);
    let seen = until(&mut events, "output_audio_buffer.cleared").await;
    assert!(
        seen.iter()
            .any(|e| e.event_type() == "input_audio_buffer.speech_started"),
        "the server heard the user first"
    );
    // Cleared here too: nothing queued, and nothing more is played.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at = playback.metrics();
    assert_eq!(at.queued, Duration::ZERO, "{at:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = playback.metrics();
    assert!(
        later.played <= at.played + Duration::from_millis(40),
        "{:?} played after the clear",
        later.played - at.played
    );
    assert!(at.played > Duration::from_millis(1000), "{at:?}");
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_up_the_track_gets_a_reply_heard_through_the_speaker() {
    let _rig = rig::rig();
    let text = "You said something, and here is the answer.";
    let (_sim, tx, rx) = call(SimulatorOptions::default().reply_text(text)).await;
    let (mut events, playback) = stream(
        rx,
        rig::steady(PlaybackOptions::new(tx.clone()), 48_000).forward_audio(true),
    )
    .await
    .unwrap();
    let rec = Recorder::start("speaker", 48_000).await;
    // The user speaks (1 s of a tone, then silence), in real time, up the track.
    speak(&tx);
    // The server's VAD hears the turn end and answers; its audio comes down the track.
    let seen = until(&mut events, "output_audio_buffer.stopped").await;
    let order: Vec<&str> = seen
        .iter()
        .map(ServerEvent::event_type)
        .filter(|t| t.starts_with("input_audio_buffer.") || *t == "response.created")
        .collect();
    assert_eq!(
        order,
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "response.created"
        ]
    );
    let sent: Vec<i16> = seen
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputAudioDelta(d) => Some(d.pcm16().unwrap()),
            _ => None,
        })
        .flatten()
        .collect();
    playback.drain().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let recorded = rec.finish().await;
    // What the speaker played is the reply as it came off the track, window by window.
    let want = rig::resample(&pcm_to_f32(&sent), 24_000, 48_000);
    let start = onset(&recorded, 48_000, 0.01).expect("nothing was played");
    let first = onset(&want, 48_000, 0.01).expect("the reply is silent");
    let window = 48_000 / 4;
    let mut snrs = rig::windowed_snr(
        &recorded,
        &want,
        start.saturating_sub(first),
        window,
        window / 5,
    );
    snrs.sort_by(f64::total_cmp);
    let median = snrs[snrs.len() / 2];
    eprintln!("webrtc reply through the speaker: window SNRs {snrs:?}");
    assert!(median > 17.0, "median window SNR {median:.1} dB");
    let voice = vivavoce::mock::voice::synthesize(text);
    assert!(
        sent.len() + 960 >= voice.len(),
        "{} of {}",
        sent.len(),
        voice.len()
    );
    playback.stop().await;
}
