//! What the conversation tests share: a simulator with the layer over it, reading events
//! until one of a kind, and speaking or typing as the user.
#![allow(dead_code)]

use std::time::Duration;

use vivavoce::mock::{RealtimeSimulator, SimulatorOptions, voice};
use vivavoce::realtime::conversation::{Conversation, ConversationEvent, ConversationOptions};
use vivavoce::realtime::events::{ConversationItemCreate, InputAudioBufferAppend, Modality};
use vivavoce::realtime::{Item, ServerEvent, Session, connect};

pub async fn start(
    sim: SimulatorOptions,
    options: ConversationOptions,
) -> (RealtimeSimulator, Conversation) {
    let sim = RealtimeSimulator::start(sim).await.unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let conversation = Conversation::start(tx, rx, options).await.unwrap();
    (sim, conversation)
}

/// Everything up to and including the `n`th event that `stop` picks; fails on an
/// error event or one that does not parse, and after 10 s of silence.
pub async fn until(
    c: &mut Conversation,
    mut n: usize,
    stop: impl Fn(&ConversationEvent) -> bool,
) -> Vec<ConversationEvent> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("no event within 10 s")
            .expect("the session ended");
        if let ConversationEvent::Server(s) = &e {
            assert!(
                !matches!(
                    s,
                    ServerEvent::ErrorEvent(_)
                        | ServerEvent::Unknown { .. }
                        | ServerEvent::Malformed { .. }
                ),
                "{s:?}"
            );
        }
        let hit = stop(&e);
        seen.push(e);
        if hit {
            n -= 1;
            if n == 0 {
                return seen;
            }
        }
    }
}

pub fn is_server(e: &ConversationEvent, ty: &str) -> bool {
    matches!(e, ConversationEvent::Server(s) if s.event_type() == ty)
}

pub fn text_session() -> Session {
    Session::default().output_modalities([Modality::Text])
}

/// The user types `text`.
pub async fn say(c: &mut Conversation, text: &str) {
    c.sender()
        .send(ConversationItemCreate::new(Item::user_text(text)))
        .await
        .unwrap();
}

/// The user speaks `text` (the simulator's voice), then is silent for a second: the
/// server VAD ends the turn.
pub async fn speak(c: &mut Conversation, text: &str) {
    let mut pcm = voice::synthesize(text);
    pcm.extend(std::iter::repeat_n(0i16, voice::RATE as usize));
    for chunk in pcm.chunks(2400) {
        c.sender()
            .send(InputAudioBufferAppend::from_pcm16(chunk))
            .await
            .unwrap();
    }
}
