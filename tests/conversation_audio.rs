//! The conversation layer with real playback (cpal into the headless PipeWire rig): the
//! first sample heard is timed, and a barge-in cuts the transcript at what was heard.
//! Run as `scripts/audio-rig.sh run cargo test`.
#![cfg(all(feature = "audio", feature = "mock", feature = "conversation"))]
#![allow(clippy::await_holding_lock)]

mod rig;

use std::time::Duration;

use vivavoce::audio::{Playback, PlaybackOptions};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions, voice};
use vivavoce::realtime::conversation::{Conversation, ConversationEvent, ConversationOptions};
use vivavoce::realtime::events::{ConversationItemCreate, InputAudioBufferAppend, ResponseCreate};
use vivavoce::realtime::{Item, ServerEvent, connect};

const REPLY: &str = "This reply is long enough to be interrupted in the middle of a word, \
                     with plenty of syllables left to play after the cut.";

async fn until(
    c: &mut Conversation,
    stop: impl Fn(&ConversationEvent) -> bool,
) -> Vec<ConversationEvent> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), c.recv())
            .await
            .expect("events stopped")
            .expect("session ended");
        if let ConversationEvent::Server(ServerEvent::ErrorEvent(e)) = &e {
            panic!("{e:?}");
        }
        let hit = stop(&e);
        seen.push(e);
        if hit {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_cuts_the_transcript_at_the_heard_position_and_turns_time_the_first_sample_heard()
{
    let _rig = rig::rig();
    // The whole answer arrives at once; playback plays it in real time.
    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .reply_text(REPLY),
    )
    .await
    .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let playback = Playback::open(PlaybackOptions::new(tx.clone()))
        .await
        .unwrap();
    let events = playback.attach(rx);
    let options = ConversationOptions::default().played(playback.positions());
    let mut c = Conversation::start(tx.clone(), events, options)
        .await
        .unwrap();
    // Let the audio server link the stream before timing anything.
    let t0 = std::time::Instant::now();
    while playback.metrics().callbacks < 5 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the audio server never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, |e| matches!(e, ConversationEvent::Turn(_))).await;
    let Some(ConversationEvent::Turn(turn)) = seen.last() else {
        unreachable!()
    };
    let first_delta = turn.first_delta.expect("first audio arrival timed");
    let first_heard = turn.first_heard.expect("first sample heard timed");
    assert!(
        turn.created <= first_delta && first_delta <= first_heard,
        "{turn:?}"
    );
    assert_eq!(turn.wait, Some(first_heard));
    let item_id = seen
        .iter()
        .find_map(|e| match e {
            ConversationEvent::Server(ServerEvent::ResponseOutputItemAdded(a)) => {
                a.item.id().map(str::to_owned)
            }
            _ => None,
        })
        .unwrap();

    // The user talks over the answer a second in.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let speech: Vec<i16> = voice::synthesize("wait, stop please")
        .into_iter()
        .map(|s| s.saturating_mul(2))
        .collect();
    tx.send(InputAudioBufferAppend::from_pcm16(&speech))
        .await
        .unwrap();
    let seen = until(&mut c, |e| matches!(e, ConversationEvent::Truncated(_))).await;
    let Some(ConversationEvent::Truncated(cut)) = seen.last() else {
        unreachable!()
    };
    assert_eq!(cut.item_id, item_id);
    let heard = playback.position(&item_id).unwrap();
    assert!(heard.interrupted);
    // The simulator's voice gives each character the same time: the words kept are the
    // ones whose last character was heard.
    let total = voice::synthesize(REPLY).len() as f64 / f64::from(voice::RATE);
    let per_char_ms = total * 1000.0 / REPLY.chars().count() as f64;
    let mut want = String::new();
    for word in REPLY.split_inclusive(' ') {
        let end = (want.chars().count() + word.trim_end().chars().count()) as f64 * per_char_ms;
        if end > f64::from(cut.audio_end_ms) {
            break;
        }
        want.push_str(word);
    }
    eprintln!(
        "barge-in at {} ms: kept {:?}; first delta {first_delta:?}, first heard {first_heard:?}",
        cut.audio_end_ms, cut.transcript
    );
    assert!(cut.audio_end_ms > 800, "{}", cut.audio_end_ms);
    assert_eq!(cut.transcript.trim_end(), want.trim_end());
    assert_eq!(format!("{}{}", cut.transcript, cut.unheard), REPLY);
    assert_eq!(c.item(&item_id).unwrap().text, cut.transcript);
    playback.stop().await;
}
