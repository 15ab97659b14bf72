//! The G.711 fallback of the WebRTC transport: a peer without Opus gets PCMU or PCMA on
//! the track, and the session's 24 kHz audio still goes both ways (the simulator's VAD
//! hears the uplink; the reply comes back as audio deltas). A call with no codec in common
//! is a typed error.

mod webrtc_support;

use vivavoce::Error;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::webrtc::{CallCodec, connect};
use vivavoce::realtime::{EventReceiver, ServerEvent};
use webrtc_support::{assert_heard_the_voice, next, options, speak_a_turn};

const REPLY: &str = "Telephone sound, but it gets through.";

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

/// Speaks a 1 s tone between silences, in real time as capture would, then returns when
/// the VAD has heard it start, the reply's audio as heard, and its transcript.
async fn speak_and_hear_the_reply(
    tx: &vivavoce::realtime::EventSender,
    rx: &mut EventReceiver,
) -> (u64, Vec<i16>, String) {
    speak_a_turn(tx).await;
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
    // The whole voice at telephone bandwidth: most of its energy is below 3.5 kHz, so
    // most of its level comes through.
    assert_heard_the_voice(&heard, REPLY, 0.5);
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
