//! What the WebRTC call tests share: call options for a simulator, reading events with a
//! deadline, speaking a turn, and checking that a reply's voice came through the track whole.
#![allow(dead_code)]

use std::time::Duration;

use vivavoce::mock::RealtimeSimulator;
use vivavoce::realtime::events::InputAudioBufferAppend;
use vivavoce::realtime::webrtc::CallOptions;
use vivavoce::realtime::{EventReceiver, EventSender, ServerEvent};

pub const WAIT: Duration = Duration::from_secs(15);

pub fn options(sim: &RealtimeSimulator) -> CallOptions {
    sim.call_options().timeout(Duration::from_secs(10))
}

pub async fn next(rx: &mut EventReceiver) -> ServerEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no event within 15 s")
        .expect("the call ended")
}

pub fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// `heard` is the simulator's voice saying `text`, 20 ms a packet, within a packet or
/// two, at no less than `min_level` of its loudness.
pub fn assert_heard_the_voice(heard: &[i16], text: &str, min_level: f64) {
    let voice = vivavoce::mock::voice::synthesize(text);
    let (frames, spoken) = (heard.len() / 480, voice.len() / 480);
    assert!(
        frames + 2 >= spoken && frames <= spoken + 1,
        "{} samples heard, {} spoken",
        heard.len(),
        voice.len()
    );
    let level = rms(heard) / rms(&voice);
    assert!(level > min_level, "{level:.2} of the voice's level");
}

/// 500 ms of silence, 1 s of a tone, 700 ms of silence: appended as capture does, in real
/// time, so the track carries it at its pace. The VAD puts speech at 200 ms (500 less its
/// 300 ms of padding).
pub async fn speak_a_turn(tx: &EventSender) {
    let mut pcm = vec![0i16; 12_000];
    pcm.extend((0..24_000).map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16));
    pcm.extend(std::iter::repeat_n(0, 700 * 24));
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for chunk in pcm.chunks(480) {
        tick.tick().await;
        tx.send(InputAudioBufferAppend::from_pcm16(chunk))
            .await
            .unwrap();
    }
}
