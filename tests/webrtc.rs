//! The WebRTC transport over loopback, against the simulator's calls endpoint: the
//! offer/answer exchange over HTTP, the `oai-events` data channel, and Opus audio both
//! ways through real UDP sockets on 127.0.0.1.

mod webrtc_support;

use std::time::Duration;

use vivavoce::Error;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{
    ConversationItemCreate, InputAudioBufferAppend, OutputAudioBufferClear, ResponseCancel,
    ResponseCreate, SessionUpdate,
};
use vivavoce::realtime::webrtc::{MAX_MESSAGE_BYTES, connect};
use vivavoce::realtime::{EventReceiver, Item, ServerEvent, Session};
use webrtc_support::{WAIT, assert_heard_the_voice, next, options, speak_a_turn};

/// Events up to and including the first of type `ty`.
async fn until(rx: &mut EventReceiver, ty: &str) -> Vec<ServerEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = next(rx).await;
        let done = ev.event_type() == ty;
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_goes_over_the_data_channel() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let session = Session::default()
        .model("gpt-realtime")
        .instructions("Be brief.");
    let (tx, mut rx, call) = connect(options(&sim).session(session)).await.unwrap();
    assert!(call.id().starts_with("rtc_"), "{}", call.id());

    // The form's session is the one created; it is sent again as session.update on open.
    match next(&mut rx).await {
        ServerEvent::SessionCreated(c) => {
            assert_eq!(c.session.instructions.as_deref(), Some("Be brief."));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(next(&mut rx).await.event_type(), "session.updated");

    tx.send(SessionUpdate::new(
        Session::default().instructions("Say hi."),
    ))
    .await
    .unwrap();
    match next(&mut rx).await {
        ServerEvent::SessionUpdated(u) => {
            assert_eq!(u.session.instructions.as_deref(), Some("Say hi."));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_heard_as_audio_deltas_from_the_track() {
    let text = "Hello from the other end of the call.";
    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .reply_text(text)
            .pace(Pace::Fast),
    )
    .await
    .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    tx.send(ConversationItemCreate::new(Item::user_text("Hi")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    // The audio plays out in real time on the track, after the channel's last events.
    let events = until(&mut rx, "output_audio_buffer.stopped").await;
    let mut pcm = Vec::new();
    let mut transcript = String::new();
    let mut response_id = None;
    for ev in &events {
        match ev {
            ServerEvent::ResponseCreated(c) => response_id.clone_from(&c.response.id),
            ServerEvent::ResponseOutputAudioDelta(d) => {
                assert_eq!(Some(&d.response_id), response_id.as_ref());
                pcm.extend(d.pcm16().unwrap());
            }
            ServerEvent::ResponseOutputAudioTranscriptDelta(d) => transcript.push_str(&d.delta),
            _ => {}
        }
    }
    assert_eq!(transcript, text);
    assert_heard_the_voice(&pcm, text, 0.3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_on_the_track_is_heard_by_the_server_vad() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default().pace(Pace::Fast))
        .await
        .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    speak_a_turn(&tx).await;
    let events = until(&mut rx, "input_audio_buffer.speech_stopped").await;
    let started = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::InputAudioBufferSpeechStarted(s) => Some(s.audio_start_ms),
            _ => None,
        })
        .expect("speech_started before speech_stopped");
    // Speech at 500 ms less 300 ms of padding, within the codec's delay and a packet.
    assert!((180..=240).contains(&started), "{started}");
    // The turn is committed and answered, with audio on the track.
    let events = until(&mut rx, "response.done").await;
    assert!(
        events
            .iter()
            .any(|e| e.event_type() == "response.output_audio.delta")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_64_kib_is_refused_and_the_call_goes_on() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    let long = "x".repeat(MAX_MESSAGE_BYTES);
    match tx
        .send(ConversationItemCreate::new(Item::user_text(long)))
        .await
    {
        Err(Error::EventTooLarge {
            event_type,
            size,
            max,
        }) => {
            assert_eq!(&*event_type, "conversation.item.create");
            assert!(size > MAX_MESSAGE_BYTES);
            assert_eq!(max, MAX_MESSAGE_BYTES);
        }
        other => panic!("{other:?}"),
    }
    // Audio larger than that goes on the track, not the channel.
    let second = vec![0i16; 48_000];
    tx.send(InputAudioBufferAppend::from_pcm16(&second))
        .await
        .unwrap();
    tx.send(ConversationItemCreate::new(Item::user_text("still here")))
        .await
        .unwrap();
    match next(&mut rx).await {
        ServerEvent::ConversationItemAdded(_) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_typed_401() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let err = connect(options(&sim).api_key("sk-wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(
        err.api_error().and_then(|e| e.code.as_deref()),
        Some("invalid_api_key")
    );
    assert!(!format!("{err} {err:?}").contains("sk-wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_offer_is_answered_with_invalid_offer() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/realtime/calls", sim.addr()))
        .bearer_auth("sk-simulator")
        .header("content-type", "application/sdp")
        .body("this is not SDP")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_offer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_candidate_is_a_timeout() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default().unreachable_candidate(true))
        .await
        .unwrap();
    let err = connect(options(&sim).timeout(Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_closed_mid_call_ends_the_receiver_with_a_disconnect() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default().drop_after_events(2))
        .await
        .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    tx.send(ConversationItemCreate::new(Item::user_text("one")))
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "conversation.item.added");
    match next(&mut rx).await {
        ServerEvent::Disconnected(d) => assert!(!d.will_reconnect, "{d:?}"),
        other => panic!("{other:?}"),
    }
    assert!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        tx.send(ResponseCreate::default()).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_ends_the_call() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (_tx, mut rx, call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    call.hangup().await.unwrap();
    match next(&mut rx).await {
        ServerEvent::Disconnected(d) => assert!(!d.will_reconnect),
        other => panic!("{other:?}"),
    }
    // Twice is an error from the API: the call is gone.
    assert_eq!(call.hangup().await.unwrap_err().status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_clears_the_servers_playout() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    tx.send(OutputAudioBufferClear::default()).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_type(),
        "output_audio_buffer.cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_cancels_and_clears_the_playout() {
    let long = "This reply goes on for a good while so that it can be interrupted halfway.";
    let sim = RealtimeSimulator::start(
        SimulatorOptions::default()
            .reply_text(long)
            .pace(Pace::Fast),
    )
    .await
    .unwrap();
    let (tx, mut rx, _call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    tx.send(ResponseCreate::default()).await.unwrap();
    let before = until(&mut rx, "output_audio_buffer.started").await;
    assert!(before.iter().any(|e| e.event_type() == "response.created"));
    // Some audio is heard, then the user interrupts.
    until(&mut rx, "response.output_audio.delta").await;
    tx.send(ResponseCancel::default()).await.unwrap();
    tx.send(OutputAudioBufferClear::default()).await.unwrap();
    let after = until(&mut rx, "output_audio_buffer.cleared").await;
    let heard_after = after
        .iter()
        .filter(|e| e.event_type() == "response.output_audio.delta")
        .count();
    // At most what was in flight (a few packets), not the rest of the reply.
    assert!(heard_after < 20, "{heard_after} packets after the clear");
    let late = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match rx.recv().await {
                Some(e) if e.event_type() == "response.output_audio.delta" => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert!(
        !matches!(late, Ok(true)),
        "audio kept coming after the clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_in_no_debug_output() {
    let mut sim_options = SimulatorOptions::default();
    sim_options.api_key = Some("sk-secret-webrtc".into());
    let sim = RealtimeSimulator::start(sim_options).await.unwrap();
    let options = options(&sim);
    assert!(!format!("{options:?}").contains("sk-secret-webrtc"));
    let (tx, rx, call) = connect(options).await.unwrap();
    let all = format!("{tx:?} {rx:?} {call:?}");
    assert!(!all.contains("sk-secret-webrtc"), "{all}");
    assert!(all.contains(call.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sideband_websocket_joins_the_call_by_its_id() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (_tx, mut rx, call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    // A server beside the call (tools, say) opens the same session over a WebSocket.
    let sideband = sim.connect_options().call_id(call.id());
    let (side_tx, mut side_rx) = vivavoce::realtime::connect(sideband).await.unwrap();
    side_tx
        .send(SessionUpdate::new(
            Session::default().instructions("from the side"),
        ))
        .await
        .unwrap();
    // The call's own channel and the sideband both hear the answer.
    for rx in [&mut rx, &mut side_rx] {
        match next(rx).await {
            ServerEvent::SessionUpdated(u) => {
                assert_eq!(u.session.instructions.as_deref(), Some("from the side"));
            }
            other => panic!("{other:?}"),
        }
    }
    // An id that names no call is refused on the sideband.
    let stray = sim.connect_options().call_id("rtc_nosuchcall");
    let (_stx, mut srx) = vivavoce::realtime::connect(stray).await.unwrap();
    match next(&mut srx).await {
        ServerEvent::ErrorEvent(e) => assert_eq!(e.error.code.as_deref(), Some("call_not_found")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_call_sends_no_audio() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default().pace(Pace::Fast))
        .await
        .unwrap();
    let (tx, mut rx, call) = connect(options(&sim)).await.unwrap();
    assert_eq!(next(&mut rx).await.event_type(), "session.created");
    let tone: Vec<i16> = (0..24_000)
        .map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16)
        .collect();
    let speak = |tx: vivavoce::realtime::EventSender, tone: Vec<i16>| async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in tone
            .chunks(480)
            .chain(std::iter::repeat_n(&[0i16; 480][..], 40))
        {
            tick.tick().await;
            tx.send(InputAudioBufferAppend::from_pcm16(chunk))
                .await
                .unwrap();
        }
    };
    // Muted: the tone goes nowhere, and the server hears nothing.
    call.set_muted(true);
    assert!(call.is_muted());
    speak(tx.clone(), tone.clone()).await;
    let quiet = tokio::time::timeout(Duration::from_millis(700), rx.recv()).await;
    assert!(quiet.is_err(), "the server heard a muted call: {quiet:?}");
    // Unmuted: the same tone is speech again.
    call.set_muted(false);
    speak(tx.clone(), tone).await;
    assert_eq!(
        next(&mut rx).await.event_type(),
        "input_audio_buffer.speech_started"
    );
}
