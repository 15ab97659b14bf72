//! The G.711 fallback of the WebRTC transport: a peer without Opus gets PCMU or PCMA on
//! the track, and the session's 24 kHz audio still goes both ways (the simulator's VAD
//! hears the uplink; the reply comes back as audio deltas). A call with no codec in common
//! is a typed error.

use std::time::Duration;

use vivavoce::Error;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::InputAudioBufferAppend;
use vivavoce::realtime::webrtc::{CallCodec, CallOptions, connect};
use vivavoce::realtime::{EventReceiver, ServerEvent};

const WAIT: Duration = Duration::from_secs(15);
const REPLY: &str = "Telephone sound, but it gets through.";

fn options(sim: &RealtimeSimulator) -> CallOptions {
    sim.call_options().timeout(Duration::from_secs(10))
}

async fn simulator(codecs: &[CallCodec]) -> RealtimeSimulator {
    RealtimeSimulator::start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .reply_text(REPLY)
            .call_codecs(codecs.iter().copied()),
    )
    .await
    .unwrap()
}

async fn next(rx: &mut EventReceiver) -> ServerEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no event within 15 s")
        .expect("the call ended")
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// Speaks a 1 s tone between silences, in real time as capture would, then returns when
/// the VAD has heard it start, the reply's audio as heard, and its transcript.
async fn speak_and_hear_the_reply(
    tx: &vivavoce::realtime::EventSender,
    rx: &mut EventReceiver,
) -> (u64, Vec<i16>, String) {
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
    let mut started = None;
    let mut heard = Vec::new();
    let mut transcript = String::new();
    loop {
        match next(rx).await {
            ServerEvent::InputAudioBufferSpeechStarted(s) => started = Some(s.audio_start_ms),
            ServerEvent::ResponseOutputAudioDelta(d) => heard.extend(d.pcm16().unwrap()),
            ServerEvent::ResponseOutputAudioTranscriptDelta(d) => transcript.push_str(&d.delta),
            ServerEvent::OutputAudioBufferStopped(_) => break,
            _ => {}
        }
    }
    (
        started.expect("speech_started before the reply"),
        heard,
        transcript,
    )
}

async fn call_through(codec: CallCodec) {
    let sim = simulator(&[codec]).await;
    let (tx, mut rx, call) = connect(options(&sim)).await.unwrap();
    assert_eq!(call.codec(), codec);
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    let (started, heard, transcript) = speak_and_hear_the_reply(&tx, &mut rx).await;
    // Speech at 500 ms less 300 ms of padding, within the filters' delay and a packet.
    assert!((180..=240).contains(&started), "{codec:?}: {started}");
    assert_eq!(transcript, REPLY);
    // The whole voice, 20 ms a packet, at telephone bandwidth: most of its energy is
    // below 3.5 kHz, so most of its level comes through.
    let voice = vivavoce::mock::voice::synthesize(REPLY);
    let frames = heard.len() / 480;
    assert!(
        frames + 2 >= voice.len() / 480 && frames <= voice.len() / 480 + 1,
        "{codec:?}: {} samples heard, {} spoken",
        heard.len(),
        voice.len()
    );
    let level = rms(&heard) / rms(&voice);
    assert!(level > 0.5, "{codec:?}: {level:.2} of the voice's level");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_opus_gets_pcmu_both_ways() {
    call_through(CallCodec::Pcmu).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_opus_gets_pcma_both_ways() {
    call_through(CallCodec::Pcma).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_codec_of_ours_that_the_answer_takes_is_used() {
    let sim = simulator(&CallCodec::ALL).await;
    let (_tx, _rx, call) = connect(options(&sim)).await.unwrap();
    assert_eq!(call.codec(), CallCodec::Opus);
    let (_tx, _rx, call) = connect(options(&sim).codecs([CallCodec::Pcma, CallCodec::Opus]))
        .await
        .unwrap();
    assert_eq!(call.codec(), CallCodec::Pcma);
    assert!(format!("{call:?}").contains("Pcma"), "{call:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_codec_in_common_is_a_typed_error() {
    let sim = simulator(&[CallCodec::Pcmu]).await;
    let err = connect(options(&sim).codecs([CallCodec::Opus]))
        .await
        .unwrap_err();
    // Refused as OpenAI refuses an offer it cannot take: 400 `invalid_offer`.
    assert_eq!(err.status(), Some(400), "{err:?}");
    let api = err.api_error().expect("the API's error");
    assert_eq!(api.code.as_deref(), Some("invalid_offer"));
    assert!(api.message.contains("codec"), "{}", api.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_codec_at_all_is_refused_before_calling() {
    let sim = simulator(&CallCodec::ALL).await;
    let err = connect(options(&sim).codecs([])).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "codecs",
                ..
            }
        ),
        "{err:?}"
    );
}
