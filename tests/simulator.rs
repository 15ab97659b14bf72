//! The Realtime simulator, driven through `connect` over real sockets.
#![cfg(feature = "mock")]

use std::time::Duration;

use serde_json::json;
use vivavoce::Error;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{
    AudioFormat, ConversationItemCreate, ConversationItemDelete, ConversationItemRetrieve,
    ConversationItemTruncate, InputAudioBufferAppend, InputAudioBufferCommit, Modality,
    ResponseCancel, ResponseConfig, ResponseCreate, SessionUpdate,
};
use vivavoce::realtime::{
    ClientEvent, EventReceiver, EventSender, Item, ServerEvent, Session, connect,
};

async fn next(rx: &mut EventReceiver) -> ServerEvent {
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s");
    let ev = ev.expect("the connection ended");
    assert!(
        !matches!(
            ev,
            ServerEvent::Unknown { .. } | ServerEvent::Malformed { .. }
        ),
        "the simulator sent an event that does not parse as its type: {ev:?}"
    );
    ev
}

async fn until(rx: &mut EventReceiver, ty: &str) -> (Vec<ServerEvent>, ServerEvent) {
    let mut before = Vec::new();
    loop {
        let ev = next(rx).await;
        if ev.event_type() == ty {
            return (before, ev);
        }
        before.push(ev);
    }
}

async fn start(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "session.created",
        "session.created comes first"
    );
    (sim, tx, rx)
}

/// A harmless request still gets its answer.
async fn assert_session_goes_on(tx: &EventSender, rx: &mut EventReceiver) {
    tx.send(vivavoce::realtime::events::InputAudioBufferClear::default())
        .await
        .unwrap();
    assert_eq!(next(rx).await.event_type(), "input_audio_buffer.cleared");
}

/// Waits for `response.done` and checks it was cancelled for `reason`.
async fn assert_cancelled(rx: &mut EventReceiver, reason: &str) {
    match until(rx, "response.done").await.1 {
        ServerEvent::ResponseDone(d) => {
            assert_eq!(
                d.response.status.as_ref().map(|s| s.as_str()),
                Some("cancelled")
            );
            let details = d.response.status_details.as_ref().expect("status_details");
            assert_eq!(details.reason.as_deref(), Some(reason));
        }
        other => panic!("{other:?}"),
    }
}

fn error_code(ev: &ServerEvent) -> (String, Option<String>) {
    match ev {
        ServerEvent::ErrorEvent(e) => (
            e.error.code.clone().unwrap_or_default(),
            e.error.param.clone(),
        ),
        other => panic!("expected an error event, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_key_gets_the_apis_401() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let err = connect(sim.connect_options().api_key("sk-nope"))
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().and_then(|a| a.code.as_deref()),
        Some("invalid_api_key")
    );
    match err {
        Error::Http(h) if h.status == 401 => {
            let body: serde_json::Value = serde_json::from_str(&h.body).unwrap();
            assert_eq!(body["error"]["code"], "invalid_api_key");
            assert_eq!(body["error"]["type"], "invalid_request_error");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn session_update_merges_and_rejects_unknown_parameters() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    tx.send(ClientEvent::Raw(json!({"type": "session.update", "event_id": "c1",
        "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"input": {"turn_detection": null}}}})))
        .await
        .unwrap();
    match next(&mut rx).await {
        ServerEvent::SessionUpdated(s) => {
            assert_eq!(s.session.instructions.as_deref(), Some("Be brief."));
            let input = s.session.audio.as_ref().unwrap().input.as_ref().unwrap();
            assert_eq!(
                input.turn_detection,
                Some(None),
                "an explicit null stays distinct from absent"
            );
            assert!(
                s.raw()
                    .unwrap()
                    .as_str()
                    .contains("\"turn_detection\":null")
            );
            assert_eq!(
                s.session.model.as_deref(),
                Some("gpt-realtime"),
                "earlier fields kept"
            );
        }
        other => panic!("{other:?}"),
    }
    tx.send(ClientEvent::Raw(
        json!({"type": "session.update", "event_id": "c2",
        "session": {"type": "realtime", "audio": {"output": {"voise": "marin"}}}}),
    ))
    .await
    .unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(
        error_code(&ev),
        (
            "unknown_parameter".into(),
            Some("session.audio.output.voise".into())
        )
    );
    if let ServerEvent::ErrorEvent(e) = &ev {
        assert_eq!(e.error.event_id.as_deref(), Some("c2"));
    }
    // The session goes on.
    assert_session_goes_on(&tx, &mut rx).await;
}

#[tokio::test]
async fn text_response_streams_in_the_apis_order() {
    let (_sim, tx, mut rx) =
        start(SimulatorOptions::default().reply_text("Hello there friend")).await;
    let text_only = ResponseConfig {
        output_modalities: Some(vec![Modality::Text]),
        ..Default::default()
    };
    tx.send(ResponseCreate {
        response: Some(text_only),
        ..Default::default()
    })
    .await
    .unwrap();
    let (events, done) = until(&mut rx, "response.done").await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
        ]
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputTextDelta(d) => Some(d.delta.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello there friend");
    match done {
        ServerEvent::ResponseDone(d) => {
            assert_eq!(
                d.response.status.as_ref().map(|s| s.as_str()),
                Some("completed")
            );
            assert!(d.response.usage.as_ref().unwrap().output_tokens > 0);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn audio_response_is_real_pcm_with_its_transcript() {
    let (_sim, tx, mut rx) = start(
        SimulatorOptions::default()
            .reply_text("One two three four")
            .pace(Pace::Fast),
    )
    .await;
    tx.send(ResponseCreate::default()).await.unwrap();
    let (events, _) = until(&mut rx, "response.done").await;
    let mut pcm = Vec::new();
    let mut transcript = String::new();
    for e in &events {
        match e {
            ServerEvent::ResponseOutputAudioDelta(d) => d.pcm16_into(&mut pcm).unwrap(),
            ServerEvent::ResponseOutputAudioTranscriptDelta(d) => transcript.push_str(&d.delta),
            _ => {}
        }
    }
    assert_eq!(transcript, "One two three four");
    assert_eq!(pcm, vivavoce::mock::voice::synthesize("One two three four"));
    let rms = (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 1000.0, "audible: {rms}");
}

#[tokio::test]
async fn real_time_pace_takes_as_long_as_the_audio() {
    let (_sim, tx, mut rx) =
        start(SimulatorOptions::default().reply_text("pace test of the simulator")).await;
    let started = tokio::time::Instant::now();
    tx.send(ResponseCreate::default()).await.unwrap();
    let (events, _) = until(&mut rx, "response.done").await;
    let samples: usize = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputAudioDelta(d) => Some(d.pcm16().unwrap().len()),
            _ => None,
        })
        .sum();
    let audio = Duration::from_secs_f64(samples as f64 / 24_000.0);
    // The last 100 ms chunk is sent when its time starts, so the stream spans audio − 100 ms.
    assert!(
        started.elapsed() + Duration::from_millis(100) >= audio,
        "{:?} for {audio:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn second_response_is_refused_and_cancel_ends_the_first() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "response.created");
    tx.send(ResponseCreate::default()).await.unwrap();
    let (_, err) = until(&mut rx, "error").await;
    assert_eq!(
        error_code(&err).0,
        "conversation_already_has_active_response"
    );
    tx.send(ResponseCancel::default()).await.unwrap();
    assert_cancelled(&mut rx, "client_cancelled").await;
    tx.send(ResponseCancel::default()).await.unwrap();
    assert_eq!(
        error_code(&next(&mut rx).await).0,
        "response_cancel_not_active"
    );
    // A new response may start now.
    tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "response.created");
}

#[tokio::test]
async fn items_are_created_retrieved_truncated_and_deleted() {
    let (_sim, tx, mut rx) = start(
        SimulatorOptions::default()
            .reply_text("A reply to cut")
            .pace(Pace::Fast),
    )
    .await;
    tx.send(ConversationItemCreate::new(Item::user_text("hi")))
        .await
        .unwrap();
    let user_id = match next(&mut rx).await {
        ServerEvent::ConversationItemAdded(a) => a.item.id().unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(next(&mut rx).await.event_type(), "conversation.item.done");
    tx.send(ResponseCreate::default()).await.unwrap();
    let (events, _) = until(&mut rx, "response.done").await;
    let assistant_id = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::ResponseOutputItemAdded(a) => a.item.id().map(str::to_owned),
            _ => None,
        })
        .unwrap();

    let truncate = |ms| ConversationItemTruncate {
        item_id: assistant_id.clone(),
        audio_end_ms: ms,
        ..Default::default()
    };
    tx.send(truncate(60_000)).await.unwrap();
    let (code, param) = error_code(&next(&mut rx).await);
    assert_eq!(
        (code.as_str(), param.as_deref()),
        ("invalid_value", Some("audio_end_ms"))
    );
    tx.send(truncate(300)).await.unwrap();
    match next(&mut rx).await {
        ServerEvent::ConversationItemTruncated(t) => assert_eq!(t.audio_end_ms, 300),
        other => panic!("{other:?}"),
    }
    let retrieve = || ConversationItemRetrieve {
        item_id: user_id.clone(),
        ..Default::default()
    };
    for (event, answer) in [
        (ClientEvent::from(retrieve()), "conversation.item.retrieved"),
        (
            ConversationItemDelete {
                item_id: user_id.clone(),
                ..Default::default()
            }
            .into(),
            "conversation.item.deleted",
        ),
        (retrieve().into(), "error"),
    ] {
        tx.send(event).await.unwrap();
        assert_eq!(next(&mut rx).await.event_type(), answer);
    }
    tx.send(retrieve()).await.unwrap();
    assert_eq!(error_code(&next(&mut rx).await).0, "item_not_found");
}

#[tokio::test]
async fn input_audio_commit_needs_100_ms() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    tx.send(InputAudioBufferAppend::from_pcm16(&[100; 1200]))
        .await
        .unwrap(); // 50 ms
    tx.send(InputAudioBufferCommit::default()).await.unwrap();
    assert_eq!(
        error_code(&next(&mut rx).await).0,
        "input_audio_buffer_commit_empty"
    );
    tx.send(InputAudioBufferAppend::from_pcm16(&[100; 2400]))
        .await
        .unwrap(); // +100 ms
    tx.send(InputAudioBufferCommit::default()).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "input_audio_buffer.committed"
    );
    match next(&mut rx).await {
        ServerEvent::ConversationItemAdded(a) => assert!(matches!(a.item, Item::Message(_))),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_client_events_get_error_events_and_the_session_continues() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    for (event, code, param) in [
        (json!({"event_id": "x"}), "invalid_event", None),
        (
            json!({"type": "response.hologram"}),
            "invalid_value",
            Some("type"),
        ),
        (
            json!({"type": "conversation.item.truncate", "audio_end_ms": 5}),
            "missing_required_parameter",
            Some("item_id"),
        ),
        (
            json!({"type": "input_audio_buffer.append", "audio": "not base64!"}),
            "invalid_value",
            Some("audio"),
        ),
    ] {
        tx.send(ClientEvent::Raw(event)).await.unwrap();
        let (c, p) = error_code(&next(&mut rx).await);
        assert_eq!((c.as_str(), p.as_deref()), (code, param));
    }
    assert_session_goes_on(&tx, &mut rx).await;
}

#[tokio::test]
async fn scripted_drop_is_a_transport_loss() {
    let (_sim, _tx, mut rx) = start(
        SimulatorOptions::default()
            .drop_after_events(3)
            .pace(Pace::Fast),
    )
    .await;
    _tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "response.created");
    assert_eq!(next(&mut rx).await.event_type(), "rate_limits.updated");
    match rx.recv().await.unwrap() {
        ServerEvent::Disconnected(d) => assert!(d.error.is_retryable(), "{:?}", d.error),
        other => panic!("{other:?}"),
    }
}

/// 500 ms of silence, 1 s of a loud tone, then `tail_ms` of silence, in 100 ms appends.
async fn speak(tx: &EventSender, tail_ms: usize) {
    let mut pcm = vec![0i16; 12_000];
    pcm.extend((0..24_000).map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16));
    pcm.extend(std::iter::repeat_n(0, tail_ms * 24));
    for chunk in pcm.chunks(2400) {
        tx.send(InputAudioBufferAppend::from_pcm16(chunk))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn server_vad_detects_the_turn_commits_and_responds() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().pace(Pace::Fast)).await;
    speak(&tx, 700).await;
    let item = match next(&mut rx).await {
        ServerEvent::InputAudioBufferSpeechStarted(s) => {
            assert_eq!(
                s.audio_start_ms, 200,
                "speech at 500 ms minus 300 ms of padding"
            );
            s.item_id.clone()
        }
        other => panic!("{other:?}"),
    };
    match next(&mut rx).await {
        ServerEvent::InputAudioBufferSpeechStopped(s) => {
            assert_eq!(s.audio_end_ms, 1500);
            assert_eq!(s.item_id, item);
        }
        other => panic!("{other:?}"),
    }
    match next(&mut rx).await {
        ServerEvent::InputAudioBufferCommitted(c) => assert_eq!(c.item_id, item),
        other => panic!("{other:?}"),
    }
    let (_, done) = until(&mut rx, "response.done").await;
    assert!(matches!(done, ServerEvent::ResponseDone(_)));
}

#[tokio::test]
async fn push_to_talk_has_no_vad_events() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    tx.send(SessionUpdate::new(Session::default().push_to_talk()))
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.updated");
    speak(&tx, 700).await;
    tx.send(InputAudioBufferCommit::default()).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "input_audio_buffer.committed",
        "nothing before the manual commit"
    );
}

#[tokio::test]
async fn speech_interrupts_the_response_in_progress() {
    let long =
        "This reply goes on for a good while so that the user can interrupt it halfway through.";
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(long)).await;
    tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "response.created");
    speak(&tx, 0).await;
    let (before, _) = until(&mut rx, "input_audio_buffer.speech_started").await;
    assert!(
        !before.iter().any(|e| e.event_type() == "response.done"),
        "speech is announced before the response it interrupts ends"
    );
    assert_cancelled(&mut rx, "turn_detected").await;
}

#[tokio::test]
async fn g711_formats_in_and_out() {
    use vivavoce::realtime::codec;
    let (_sim, tx, mut rx) = start(
        SimulatorOptions::default()
            .reply_text("mu law")
            .pace(Pace::Fast),
    )
    .await;
    let formats = Session::default()
        .input_format(AudioFormat::Pcma)
        .output_format(AudioFormat::Pcmu);
    tx.send(SessionUpdate::new(formats)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.updated");

    // Input: 8 kHz A-law speech is heard by the VAD at the right times.
    let mut law = vec![codec::alaw_encode(0); 4000]; // 500 ms
    law.extend((0..8000).map(|i| codec::alaw_encode(((i as f32 * 0.36).sin() * 8000.0) as i16)));
    law.extend(vec![codec::alaw_encode(0); 5600]); // 700 ms
    for chunk in law.chunks(800) {
        tx.send(InputAudioBufferAppend::from_bytes(chunk))
            .await
            .unwrap();
    }
    match next(&mut rx).await {
        ServerEvent::InputAudioBufferSpeechStarted(s) => assert_eq!(s.audio_start_ms, 200),
        other => panic!("{other:?}"),
    }

    // Output: μ-law at 8 kHz, one byte per sample, that decodes to the voice.
    let (events, _) = until(&mut rx, "response.done").await;
    let bytes: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputAudioDelta(d) => Some(d.bytes().unwrap()),
            _ => None,
        })
        .flatten()
        .collect();
    let voice = vivavoce::mock::voice::synthesize("mu law");
    assert_eq!(bytes.len(), voice.len().div_ceil(3));
    let decoded: Vec<i16> = bytes.iter().map(|&b| codec::ulaw_decode(b)).collect();
    let rms =
        (decoded.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / decoded.len() as f64).sqrt();
    assert!(rms > 1000.0, "{rms}");
}

#[tokio::test]
async fn scripted_function_call_streams_its_arguments() {
    let args = r#"{"city":"Zürich","unit":"celsius"}"#;
    let options = SimulatorOptions::default()
        .function_call("get_weather", args)
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = start(options).await;
    tx.send(ResponseCreate::default()).await.unwrap();
    let (events, done) = until(&mut rx, "response.done").await;
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseFunctionCallArgumentsDelta(d) => Some(d.delta.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, args);
    let call_id = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::ResponseFunctionCallArgumentsDone(d) => {
                assert_eq!(
                    (d.name.as_deref(), d.arguments.as_str()),
                    (Some("get_weather"), args)
                );
                Some(d.call_id.clone())
            }
            _ => None,
        })
        .unwrap();
    match done {
        ServerEvent::ResponseDone(d) => match &d.response.output[..] {
            [Item::FunctionCall(f)] => assert_eq!(f.call_id.as_deref(), Some(call_id.as_str())),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // The app answers; the output item is accepted.
    tx.send(ConversationItemCreate::new(Item::function_output(
        &call_id,
        r#"{"temp":21}"#,
    )))
    .await
    .unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "conversation.item.added");
}

#[tokio::test]
async fn scripted_close_code_and_session_expiry() {
    let (_sim, _tx, mut rx) =
        start(SimulatorOptions::default().close_after_events(2, 1011, "overloaded")).await;
    _tx.send(ClientEvent::Raw(
        json!({"type": "input_audio_buffer.clear"}),
    ))
    .await
    .unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "input_audio_buffer.cleared"
    );
    match rx.recv().await.unwrap() {
        ServerEvent::Disconnected(d) => {
            assert_eq!(d.close_code, Some(1011));
            assert!(d.error.is_retryable());
        }
        other => panic!("{other:?}"),
    }

    let options = SimulatorOptions::default().session_expires_after(Duration::from_millis(200));
    let (_sim, _tx, mut rx) = start(options).await;
    assert_eq!(error_code(&next(&mut rx).await).0, "session_expired");
    match rx.recv().await.unwrap() {
        ServerEvent::Disconnected(d) => assert_eq!(d.close_code, Some(1000)),
        other => panic!("{other:?}"),
    }
    assert!(rx.recv().await.is_none());
}

#[tokio::test]
async fn scripted_delay_and_jitter_keep_the_order() {
    let options = SimulatorOptions::default()
        .reply_text("one two three four five six")
        .pace(Pace::Fast)
        .response_delay(Duration::from_millis(150))
        .jitter(Duration::from_millis(20));
    let (_sim, tx, mut rx) = start(options).await;
    let asked = tokio::time::Instant::now();
    tx.send(ResponseCreate::default()).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "response.created");
    assert!(
        asked.elapsed() >= Duration::from_millis(150),
        "{:?}",
        asked.elapsed()
    );
    let (events, _) = until(&mut rx, "response.done").await;
    let transcript: String = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputAudioTranscriptDelta(d) => Some(d.delta.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        transcript, "one two three four five six",
        "jitter never reorders"
    );
}

#[tokio::test]
async fn reconnect_against_the_simulator_replays_the_session() {
    use vivavoce::realtime::ReconnectPolicy;
    // Every connection drops after its second event: session.created, session.updated.
    let sim = RealtimeSimulator::start(SimulatorOptions::default().drop_after_events(2))
        .await
        .unwrap();
    let policy = ReconnectPolicy::default().initial_backoff(Duration::from_millis(20));
    let (tx, mut rx) = connect(sim.connect_options().reconnect(Some(policy)))
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    tx.send(ClientEvent::Raw(json!({"type": "session.update",
        "session": {"type": "realtime", "instructions": "Remember me."}})))
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.updated");
    match rx.recv().await.unwrap() {
        ServerEvent::Disconnected(d) => assert!(d.will_reconnect, "{d:?}"),
        other => panic!("{other:?}"),
    }
    match rx.recv().await.unwrap() {
        ServerEvent::Reconnected(r) => assert!(r.session_replayed),
        other => panic!("{other:?}"),
    }
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    match next(&mut rx).await {
        ServerEvent::SessionUpdated(s) => {
            assert_eq!(
                s.session.instructions.as_deref(),
                Some("Remember me."),
                "the new session got the replay"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncate_is_checked_against_the_audio_actually_sent() {
    let long = "A long answer that the user cuts off after a moment, well before its end.";
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(long)).await;
    tx.send(ResponseCreate::default()).await.unwrap();
    let (events, _) = until(&mut rx, "response.output_audio.delta").await;
    let item_id = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::ResponseOutputItemAdded(a) => a.item.id().map(str::to_owned),
            _ => None,
        })
        .unwrap();
    let (_, _) = until(&mut rx, "response.output_audio.delta").await; // 200 ms sent
    tx.send(ResponseCancel::default()).await.unwrap();
    assert_cancelled(&mut rx, "client_cancelled").await;
    let truncate = |ms| ConversationItemTruncate {
        item_id: item_id.clone(),
        audio_end_ms: ms,
        ..Default::default()
    };
    // The full answer is seconds long, but only a few hundred ms went out.
    tx.send(truncate(2000)).await.unwrap();
    assert_eq!(error_code(&next(&mut rx).await).0, "invalid_value");
    tx.send(truncate(150)).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "conversation.item.truncated"
    );
}
