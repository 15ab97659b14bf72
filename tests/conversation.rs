//! The conversation layer over real sockets against the simulator: tools, transcripts,
//! truncation, sequencing, usage and turn latency.
#![cfg(all(feature = "mock", feature = "conversation"))]

mod conversation_support;

use conversation_support::{is_server, say, speak, start, text_session, until};

use std::time::Duration;

use serde_json::json;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions, voice};
use vivavoce::realtime::conversation::{
    Conversation, ConversationEvent, ConversationOptions, Function, Prices, ResponseUsage,
    TextSource,
};
use vivavoce::realtime::events::{ConversationItemTruncate, ResponseCreate, Role};
use vivavoce::realtime::{ServerEvent, Session, connect};

#[tokio::test]
async fn three_requests_back_to_back_get_three_responses_in_turn() {
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .reply_text("One two three."),
        ConversationOptions::default().session(text_session()),
    )
    .await;
    say(&mut c, "Count, please.").await;
    for _ in 0..3 {
        c.create_response(ResponseCreate::default()).await.unwrap();
    }
    assert_eq!(c.queued(), 2, "one sent, two waiting");
    // `next` fails the test on any error event, such as an active-response refusal.
    let seen = until(&mut c, 3, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let created = seen
        .iter()
        .filter(|e| is_server(e, "response.created"))
        .count();
    assert_eq!(created, 3);
    // Never two at once: each created comes after the previous done.
    let mut open = 0;
    for e in &seen {
        if is_server(e, "response.created") {
            open += 1;
            assert_eq!(open, 1, "two responses active at once");
        }
        if is_server(e, "response.done") {
            open -= 1;
        }
    }
    assert!(!c.response_active());
}

#[tokio::test]
async fn usage_is_the_sum_of_the_responses_and_priced() {
    let (_sim, mut c) = start(
        SimulatorOptions::default().pace(Pace::Fast),
        ConversationOptions::default()
            .session(text_session())
            .prices(Prices::default()),
    )
    .await;
    say(&mut c, "Hello").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, 2, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let mut sum = ResponseUsage::default();
    let mut from_events = (0, 0, 0);
    for e in &seen {
        if let ConversationEvent::ResponseDone(d) = e {
            sum.add(&d.usage);
        }
        if let ConversationEvent::Server(ServerEvent::ResponseDone(d)) = e {
            let u = d.response.usage.as_ref().expect("usage in response.done");
            from_events.0 += u.total_tokens;
            from_events.1 += u.input_tokens;
            from_events.2 += u.output_tokens;
        }
    }
    let total = c.usage();
    assert_eq!(total.responses, 2);
    assert!(total.total_tokens > 0);
    assert_eq!(
        (total.total_tokens, total.input_tokens, total.output_tokens),
        from_events
    );
    assert_eq!(total.total_tokens, sum.total_tokens);
    let cost = total.cost.expect("priced");
    assert!((cost - total.price(&Prices::default())).abs() < 1e-12 && cost > 0.0);
}

#[tokio::test]
async fn text_is_assembled_and_turns_are_timed_in_order() {
    let (_sim, mut c) = start(
        SimulatorOptions::default().reply_text("Fine, thanks. And you?"),
        ConversationOptions::default().session(text_session()),
    )
    .await;
    let mut turns = Vec::new();
    for question in ["How are you?", "And now?"] {
        say(&mut c, question).await;
        c.create_response(ResponseCreate::default()).await.unwrap();
        let seen = until(&mut c, 1, |e| matches!(e, ConversationEvent::Turn(_))).await;
        let mut text = String::new();
        for e in &seen {
            if let ConversationEvent::Text(t) = e {
                assert_eq!(t.source, TextSource::Text);
                assert_eq!(t.role, Role::Assistant);
                text.push_str(&t.delta);
            }
            if let ConversationEvent::Turn(t) = e {
                turns.push(t.clone());
            }
        }
        assert_eq!(text, "Fine, thanks. And you?");
    }
    let items = c.items();
    let texts: Vec<(Option<Role>, &str)> = items
        .iter()
        .map(|i| (i.role.clone(), i.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (Some(Role::User), "How are you?"),
            (Some(Role::Assistant), "Fine, thanks. And you?"),
            (Some(Role::User), "And now?"),
            (Some(Role::Assistant), "Fine, thanks. And you?"),
        ]
    );
    assert!(items.iter().all(|i| i.done));
    assert_eq!(turns.len(), 2);
    for t in &turns {
        let first = t.first_delta.expect("first delta timed");
        assert!(t.created <= first && first <= t.done, "{t:?}");
        assert_eq!(t.wait, Some(first));
        assert_eq!(t.first_heard, None, "no playback");
    }
    let stats = c.latency();
    assert_eq!(stats.done.count, 2);
    assert!(stats.created.p50 <= stats.done.p50);
}

/// A spoken answer truncated at what was heard: the transcript keeps the words whose
/// audio had been played. The simulator's voice takes the same time for each character.
#[tokio::test]
async fn a_truncated_answer_keeps_the_words_heard() {
    let reply = "The quick brown fox jumps over the lazy dog.";
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .reply_text(reply),
        ConversationOptions::default(),
    )
    .await;
    say(&mut c, "Tell me something.").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let item_id = seen
        .iter()
        .find_map(|e| match e {
            ConversationEvent::Text(t) if t.source == TextSource::AudioTranscript => {
                Some(t.item_id.clone())
            }
            _ => None,
        })
        .expect("an audio transcript");
    let total = voice::synthesize(reply).len() as f64 / f64::from(voice::RATE);
    assert_eq!(
        c.item(&item_id).unwrap().audio.as_millis(),
        (total * 1000.0) as u128
    );
    let heard_ms = 1234u32;
    c.sender()
        .send(ConversationItemTruncate::new(item_id.clone(), 0, heard_ms))
        .await
        .unwrap();
    let seen = until(&mut c, 1, |e| matches!(e, ConversationEvent::Truncated(_))).await;
    let Some(ConversationEvent::Truncated(cut)) = seen.last() else {
        unreachable!()
    };
    // The words whose last character had been spoken by then.
    let per_char = total / reply.chars().count() as f64;
    let mut want = String::new();
    for word in reply.split_inclusive(' ') {
        let end = (want.chars().count() + word.trim_end().chars().count()) as f64 * per_char;
        if end * 1000.0 > f64::from(heard_ms) {
            break;
        }
        want.push_str(word);
    }
    assert_eq!(cut.transcript.trim_end(), want.trim_end());
    assert_eq!(format!("{}{}", cut.transcript, cut.unheard), reply);
    let item = c.item(&item_id).unwrap();
    assert_eq!(item.text, cut.transcript);
    assert_eq!(item.truncated_at, Some(heard_ms));
}

#[tokio::test]
async fn out_of_band_responses_do_not_wait() {
    let (_sim, mut c) = start(
        SimulatorOptions::default(),
        ConversationOptions::default().session(text_session()),
    )
    .await;
    say(&mut c, "Hi").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    let oob: ResponseCreate = serde_json::from_value(json!({
        "response": {"conversation": "none", "metadata": {"topic": "summary"}}
    }))
    .unwrap();
    use vivavoce::realtime::conversation::Requested;
    assert_eq!(c.create_response(oob).await.unwrap(), Requested::Sent);
    assert_eq!(c.queued(), 0);
    let seen = until(&mut c, 2, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let oob_done = seen
        .iter()
        .any(|e| matches!(e, ConversationEvent::ResponseDone(d) if d.out_of_band));
    assert!(oob_done, "the out-of-band response finished");
    assert!(c.items().iter().all(|i| !i.out_of_band || i.done));
}

#[tokio::test]
async fn bad_tool_options_are_refused_before_any_io() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let broken = Function::new("f", "", json!({"type": "no such type"}), |_| async {
        Ok(json!(1))
    });
    let err = Conversation::start(tx, rx, ConversationOptions::default().function(broken))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`f`"), "{err}");
}

/// Speech ends a turn: the user's audio turn is timed from `speech_stopped`.
#[tokio::test]
async fn a_spoken_turn_is_timed_from_the_end_of_speech() {
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .reply_text("Yes."),
        ConversationOptions::default(),
    )
    .await;
    speak(&mut c, "hello there my friend").await;
    let seen = until(&mut c, 1, |e| matches!(e, ConversationEvent::Turn(_))).await;
    let stopped = seen
        .iter()
        .position(|e| is_server(e, "input_audio_buffer.speech_stopped"));
    let created = seen.iter().position(|e| is_server(e, "response.created"));
    assert!(stopped.unwrap() < created.unwrap());
    let Some(ConversationEvent::Turn(t)) = seen.last() else {
        unreachable!()
    };
    let first = t.first_delta.expect("audio arrived");
    assert!(t.created <= first && first <= t.done, "{t:?}");
}

#[tokio::test]
async fn a_slow_answer_trips_the_latency_budget_while_the_user_waits() {
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .response_delay(Duration::from_millis(600)),
        ConversationOptions::default()
            .session(text_session())
            .latency_budget(Duration::from_millis(50), Duration::from_millis(150)),
    )
    .await;
    say(&mut c, "Hello?").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, 1, |e| matches!(e, ConversationEvent::Turn(_))).await;
    use vivavoce::realtime::conversation::LatencyLevel;
    let alerts: Vec<(usize, LatencyLevel)> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            ConversationEvent::LatencyBudget(a) => Some((i, a.level)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts.iter().map(|a| a.1).collect::<Vec<_>>(),
        [LatencyLevel::Warn, LatencyLevel::Exceeded],
        "{seen:#?}"
    );
    // Both while the user was still waiting: before the first text arrived.
    let first_text = seen
        .iter()
        .position(|e| matches!(e, ConversationEvent::Text(_)))
        .unwrap();
    assert!(alerts.iter().all(|(i, _)| *i < first_text));
    let Some(ConversationEvent::Turn(t)) = seen.last() else {
        unreachable!()
    };
    assert!(t.wait.unwrap() >= Duration::from_millis(150), "{t:?}");
}

#[tokio::test]
async fn cancelling_is_explicit_and_keeps_the_queue() {
    let (_sim, mut c) = start(
        SimulatorOptions::default().reply_text("A long answer that takes a while to write out."),
        ConversationOptions::default().session(text_session()),
    )
    .await;
    say(&mut c, "Talk.").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    c.create_response(ResponseCreate::default()).await.unwrap();
    until(&mut c, 1, |e| matches!(e, ConversationEvent::Text(_))).await;
    assert!(c.cancel_response().await.unwrap());
    assert_eq!(c.queued(), 1, "the waiting request stays");
    let seen = until(&mut c, 2, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let statuses: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::ResponseDone(d) => d.status.clone(),
            _ => None,
        })
        .collect();
    use vivavoce::realtime::events::ResponseStatus;
    assert_eq!(
        statuses,
        [ResponseStatus::Cancelled, ResponseStatus::Completed]
    );
    assert_eq!(c.clear_queued(), 0);
}

#[tokio::test]
async fn a_failed_transcription_is_reported() {
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .fail_transcription(true),
        ConversationOptions::default()
            .session(Session::default().input_transcription("gpt-4o-transcribe")),
    )
    .await;
    speak(&mut c, "hello there my friend").await;
    let seen = until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::TranscriptionFailed { .. })
    })
    .await;
    let Some(ConversationEvent::TranscriptionFailed { item_id, error }) = seen.last() else {
        unreachable!()
    };
    assert!(error.message.is_some(), "{error:?}");
    assert_eq!(c.item(item_id).unwrap().role, Some(Role::User));
}
