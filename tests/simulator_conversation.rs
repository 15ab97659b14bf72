//! The Realtime simulator's conversation as the API keeps it: item order, cancelled
//! responses that still complete their items, rate limits, usage, out-of-band responses,
//! scripted tool calls and input transcription. Real sockets, through `connect`.
#![cfg(feature = "mock")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{ClientEvent, EventReceiver, EventSender, ServerEvent, connect};

/// The next server event as JSON (it must parse as its type).
async fn next(rx: &mut EventReceiver) -> Value {
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
        .expect("the connection ended");
    assert!(
        !matches!(
            ev,
            ServerEvent::Unknown { .. } | ServerEvent::Malformed { .. }
        ),
        "the simulator sent an event that does not parse as its type: {ev:?}"
    );
    serde_json::from_str(ev.raw().expect("a server event").as_str()).unwrap()
}

/// Events up to (not including) the first of type `ty`, and that event.
async fn until(rx: &mut EventReceiver, ty: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let ev = next(rx).await;
        if ev["type"] == ty {
            return (before, ev);
        }
        before.push(ev);
    }
}

async fn start(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    assert_eq!(next(&mut rx).await["type"], "session.created");
    (sim, tx, rx)
}

async fn send(tx: &EventSender, event: Value) {
    tx.send(ClientEvent::Raw(event)).await.unwrap();
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": text}]}})
}

fn text_response() -> Value {
    json!({"type": "response.create", "response": {"output_modalities": ["text"]}})
}

/// Adds a user message and waits for its `conversation.item.done`.
async fn say(tx: &EventSender, rx: &mut EventReceiver, text: &str) -> String {
    send(tx, user_text(text)).await;
    let (_, done) = until(rx, "conversation.item.done").await;
    done["item"]["id"].as_str().unwrap().to_owned()
}

/// Sends `response.create` and returns everything up to and including its `response.done`.
async fn respond(tx: &EventSender, rx: &mut EventReceiver, create: Value) -> (Vec<Value>, Value) {
    send(tx, create).await;
    until(rx, "response.done").await
}

#[tokio::test]
async fn session_expires_an_hour_after_it_was_created() {
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (tx, mut rx) = connect(sim.connect_options()).await.unwrap();
    let created = next(&mut rx).await;
    let expires = created["session"]["expires_at"].as_i64().unwrap();
    assert!(
        (now + 3595..=now + 3605).contains(&expires),
        "expires_at {expires}, now {now}"
    );
    send(
        &tx,
        json!({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}),
    )
    .await;
    let updated = next(&mut rx).await;
    assert_eq!(updated["session"]["expires_at"], expires);
}

/// Every `conversation.item.added`/`done` names the item before it; the first says null.
#[tokio::test]
async fn previous_item_id_follows_the_conversation() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().pace(Pace::Fast)).await;
    send(
        &tx,
        json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"turn_detection": null}}}}),
    )
    .await;
    until(&mut rx, "session.updated").await;
    let mut seen = Vec::new();
    let mut collect = |(mut before, last): (Vec<Value>, Value)| {
        before.push(last);
        seen.extend(before);
    };
    send(&tx, user_text("first")).await;
    collect(until(&mut rx, "conversation.item.done").await);
    collect(respond(&tx, &mut rx, text_response()).await);
    send(&tx, user_text("second")).await;
    collect(until(&mut rx, "conversation.item.done").await);
    collect(respond(&tx, &mut rx, json!({"type": "response.create"})).await);
    // User audio, committed by hand.
    commit_speech(&tx).await;
    collect(until(&mut rx, "conversation.item.done").await);
    let committed = seen
        .iter()
        .find(|e| e["type"] == "input_audio_buffer.committed")
        .unwrap()
        .clone();

    let mut order: Vec<String> = Vec::new();
    let mut checked = 0;
    for ev in &seen {
        let ty = ev["type"].as_str().unwrap();
        if ty == "input_audio_buffer.committed" {
            assert_eq!(ev["previous_item_id"], json!(order.last()), "{ev}");
            continue;
        }
        if ty != "conversation.item.added" && ty != "conversation.item.done" {
            continue;
        }
        let id = ev["item"]["id"].as_str().unwrap().to_owned();
        if ty == "conversation.item.added" {
            order.push(id.clone());
        }
        let pos = order.iter().position(|i| *i == id).unwrap();
        let expected = if pos == 0 {
            Value::Null
        } else {
            json!(order[pos - 1])
        };
        assert_eq!(ev["previous_item_id"], expected, "{ty} of item {pos}: {ev}");
        checked += 1;
    }
    assert_eq!(order.len(), 5, "two user messages, two replies, the audio");
    assert_eq!(checked, 10);
    assert_eq!(committed["item_id"], json!(order[4]));
}

#[tokio::test]
async fn an_item_created_after_root_comes_first() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    let first = say(&tx, &mut rx, "first").await;
    let mut create = user_text("before everything");
    create["previous_item_id"] = json!("root");
    send(&tx, create).await;
    let added = next(&mut rx).await;
    assert_eq!(added["type"], "conversation.item.added");
    assert_eq!(added["previous_item_id"], Value::Null);
    next(&mut rx).await;
    let mut create = user_text("after the first");
    create["previous_item_id"] = json!(first);
    send(&tx, create).await;
    assert_eq!(next(&mut rx).await["previous_item_id"], json!(first));
    next(&mut rx).await;
    let mut create = user_text("after nothing");
    create["previous_item_id"] = json!("item_missing");
    send(&tx, create).await;
    let err = next(&mut rx).await;
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["error"]["param"], "previous_item_id");
}

async fn commit_speech(tx: &EventSender) {
    let pcm = vivavoce::mock::voice::synthesize("some speech");
    tx.send(vivavoce::realtime::events::InputAudioBufferAppend::from_pcm16(&pcm))
        .await
        .unwrap();
    send(tx, json!({"type": "input_audio_buffer.commit"})).await;
}

#[tokio::test]
async fn function_call_responses_report_usage() {
    let options = SimulatorOptions::default()
        .function_call("get_time", "{}")
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = start(options).await;
    say(&tx, &mut rx, "What time is it?").await;
    let (_, done) = respond(&tx, &mut rx, json!({"type": "response.create"})).await;
    assert_eq!(done["response"]["output"][0]["type"], "function_call");
    let usage = &done["response"]["usage"];
    assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn rate_limits_follow_each_response_created_and_go_down() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().pace(Pace::Fast)).await;
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let (events, _) = respond(&tx, &mut rx, text_response()).await;
        assert_eq!(
            types(&events)[..2],
            ["response.created", "rate_limits.updated"]
        );
        let limits = events[1]["rate_limits"].as_array().unwrap();
        let get = |name: &str| {
            limits
                .iter()
                .find(|l| l["name"] == name)
                .unwrap_or_else(|| panic!("no {name} limit: {limits:?}"))
                .clone()
        };
        let (requests, tokens) = (get("requests"), get("tokens"));
        for l in [&requests, &tokens] {
            assert!(l["remaining"].as_u64().unwrap() < l["limit"].as_u64().unwrap());
            assert!(l["reset_seconds"].as_f64().unwrap() > 0.0);
        }
        remaining.push((requests["remaining"].clone(), tokens["remaining"].clone()));
    }
    let (a, b) = (&remaining[0], &remaining[1]);
    assert_eq!(a.0.as_u64().unwrap(), b.0.as_u64().unwrap() + 1);
    assert!(
        b.1.as_u64().unwrap() < a.1.as_u64().unwrap(),
        "{remaining:?}"
    );
}

const LONG: &str =
    "This reply goes on for a good while so that the user can cut it off well before it ends.";

fn concat(events: &[Value], ty: &str, field: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == ty)
        .map(|e| e[field].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_cancelled_audio_response_completes_its_partial_item() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(LONG)).await;
    say(&tx, &mut rx, "Talk to me.").await;
    send(&tx, json!({"type": "response.create"})).await;
    // Cut off once some of the transcript is out.
    let (mut sent, delta) = until(&mut rx, "response.output_audio_transcript.delta").await;
    sent.push(delta);
    send(&tx, json!({"type": "response.cancel"})).await;
    let (after, done) = until(&mut rx, "response.done").await;
    sent.extend(after.iter().cloned());

    let spoken = concat(&sent, "response.output_audio_transcript.delta", "delta");
    assert!(
        !spoken.is_empty() && spoken.len() < LONG.len(),
        "{spoken:?}"
    );
    let tail: Vec<&str> = types(&after)
        .into_iter()
        .filter(|t| !t.ends_with(".delta"))
        .collect();
    assert_eq!(
        tail,
        [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
        ]
    );
    let find = |ty: &str| after.iter().find(|e| e["type"] == ty).unwrap();
    assert_eq!(
        find("response.output_audio_transcript.done")["transcript"],
        spoken
    );
    assert_eq!(
        find("response.content_part.done")["part"],
        json!({"type": "audio", "transcript": spoken})
    );
    let item = &find("response.output_item.done")["item"];
    assert_eq!(item["status"], "incomplete");
    assert_eq!(
        item["content"],
        json!([{"type": "output_audio", "transcript": spoken}])
    );
    assert_eq!(find("conversation.item.done")["item"], *item);

    let response = &done["response"];
    assert_eq!(response["status"], "cancelled");
    assert_eq!(
        response["status_details"],
        json!({"type": "cancelled", "reason": "client_cancelled"})
    );
    assert_eq!(response["output"], json!([item]));
    let usage = &response["usage"];
    assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert!(
        usage["output_token_details"]["audio_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    // The conversation keeps the partial item.
    send(
        &tx,
        json!({"type": "conversation.item.retrieve", "item_id": item["id"]}),
    )
    .await;
    let retrieved = next(&mut rx).await;
    assert_eq!(retrieved["item"]["status"], "incomplete");
    assert_eq!(retrieved["item"]["content"], item["content"]);
}

#[tokio::test]
async fn a_cancelled_text_response_keeps_the_text_sent() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(LONG)).await;
    send(&tx, text_response()).await;
    let (mut sent, delta) = until(&mut rx, "response.output_text.delta").await;
    sent.push(delta);
    let (more, delta) = until(&mut rx, "response.output_text.delta").await;
    sent.extend(more);
    sent.push(delta);
    send(&tx, json!({"type": "response.cancel"})).await;
    let (after, done) = until(&mut rx, "response.done").await;
    sent.extend(after.iter().cloned());
    let text = concat(&sent, "response.output_text.delta", "delta");
    assert!(!text.is_empty() && text.len() < LONG.len());
    let tail: Vec<&str> = types(&after)
        .into_iter()
        .filter(|t| !t.ends_with(".delta"))
        .collect();
    assert_eq!(
        tail,
        [
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
        ]
    );
    assert_eq!(after[after.len() - 4]["text"], text);
    assert_eq!(
        done["response"]["output"][0]["content"],
        json!([{"type": "output_text", "text": text}])
    );
    assert_eq!(done["response"]["output"][0]["status"], "incomplete");
}

#[tokio::test]
async fn a_response_cancelled_before_any_output_has_none() {
    let options = SimulatorOptions::default().response_delay(Duration::from_millis(300));
    let (_sim, tx, mut rx) = start(options).await;
    send(&tx, json!({"type": "response.create"})).await;
    send(&tx, json!({"type": "response.cancel"})).await;
    let (before, done) = until(&mut rx, "response.done").await;
    assert_eq!(types(&before), ["response.created", "rate_limits.updated"]);
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(done["response"]["output"], json!([]));
    assert_eq!(done["response"]["usage"]["output_tokens"], 0);
    // Nothing of it comes later.
    send(&tx, json!({"type": "input_audio_buffer.clear"})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(next(&mut rx).await["type"], "input_audio_buffer.cleared");
}

/// 500 ms of silence then 1 s of a loud tone, in 100 ms appends.
async fn speak(tx: &EventSender) {
    let mut pcm = vec![0i16; 12_000];
    pcm.extend((0..24_000).map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16));
    for chunk in pcm.chunks(2400) {
        tx.send(vivavoce::realtime::events::InputAudioBufferAppend::from_pcm16(chunk))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn barge_in_completes_the_interrupted_item() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(LONG)).await;
    send(&tx, json!({"type": "response.create"})).await;
    until(&mut rx, "response.output_audio.delta").await;
    speak(&tx).await;
    let (after, done) = until(&mut rx, "response.done").await;
    assert!(types(&after).contains(&"response.output_item.done"));
    let response = &done["response"];
    assert_eq!(response["status_details"]["reason"], "turn_detected");
    let item = &response["output"][0];
    assert_eq!(item["status"], "incomplete");
    let transcript = item["content"][0]["transcript"].as_str().unwrap();
    assert!(LONG.starts_with(transcript) && transcript.len() < LONG.len());
}

#[tokio::test]
async fn a_function_output_is_answered_in_words() {
    let options = SimulatorOptions::default()
        .function_call("get_weather", r#"{"city":"Paris"}"#)
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = start(options).await;
    say(&tx, &mut rx, "Weather in Paris?").await;
    let (_, done) = respond(&tx, &mut rx, json!({"type": "response.create"})).await;
    let call = &done["response"]["output"][0];
    assert_eq!(call["type"], "function_call");
    send(
        &tx,
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
        "call_id": call["call_id"], "output": "{\"temp\":21}"}}),
    )
    .await;
    until(&mut rx, "conversation.item.done").await;
    let (events, done) = respond(&tx, &mut rx, text_response()).await;
    assert!(
        !types(&events).iter().any(|t| t.contains("function_call")),
        "{:?}",
        types(&events)
    );
    let item = &done["response"]["output"][0];
    assert_eq!(item["type"], "message");
    let text = item["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(r#"{"temp":21}"#), "{text}");
    // A new question calls again.
    say(&tx, &mut rx, "And in Rome?").await;
    let (_, done) = respond(&tx, &mut rx, json!({"type": "response.create"})).await;
    assert_eq!(done["response"]["output"][0]["type"], "function_call");
}

fn function_output(call_id: &Value, output: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
        "call_id": call_id, "output": output}})
}

#[tokio::test]
async fn parallel_calls_stream_each_item_and_send_arguments_verbatim() {
    let calls = [
        ("get_weather", r#"{"city":"Paris"}"#),
        // Cut short on purpose: clients test their handling of bad arguments with it.
        ("get_time", r#"{"city": "Par"#),
    ];
    let mut options = SimulatorOptions::default().pace(Pace::Fast);
    for (name, arguments) in calls {
        options = options.function_call(name, arguments);
    }
    let (_sim, tx, mut rx) = start(options).await;
    say(&tx, &mut rx, "Weather and time in Paris?").await;
    let (events, done) = respond(&tx, &mut rx, json!({"type": "response.create"})).await;
    let output = done["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    let mut call_ids = Vec::new();
    for (index, ((name, arguments), item)) in calls.iter().zip(output).enumerate() {
        let id = &item["id"];
        assert_eq!(
            (&item["type"], &item["name"]),
            (&json!("function_call"), &json!(name))
        );
        assert_eq!(item["arguments"], *arguments);
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["item_id"] == *id || e["item"]["id"] == *id)
            .collect();
        let kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let deltas = kinds
            .iter()
            .filter(|k| **k == "response.function_call_arguments.delta")
            .count();
        assert!(deltas >= 2, "{kinds:?}");
        let mut expected = vec!["response.output_item.added", "conversation.item.added"];
        expected.extend(std::iter::repeat_n(
            "response.function_call_arguments.delta",
            deltas,
        ));
        expected.extend([
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
        ]);
        assert_eq!(kinds, expected);
        for e in &mine {
            if e.get("output_index").is_some() {
                assert_eq!(e["output_index"], index);
            }
            if e.get("call_id").is_some() {
                assert_eq!(e["call_id"], item["call_id"]);
            }
        }
        let streamed: String = mine
            .iter()
            .filter_map(|e| e.get("delta").and_then(Value::as_str))
            .collect();
        assert_eq!(streamed, *arguments, "sent verbatim");
        assert_eq!(mine[deltas + 2]["arguments"], *arguments);
        call_ids.push(item["call_id"].clone());
    }
    assert_ne!(call_ids[0], call_ids[1]);
    assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // Both outputs, then an answer that uses them.
    for (call_id, output) in call_ids.iter().zip(["sunny, 21 C", "14:05"]) {
        send(&tx, function_output(call_id, output)).await;
        until(&mut rx, "conversation.item.done").await;
    }
    let (_, done) = respond(&tx, &mut rx, json!({"type": "response.create"})).await;
    let item = &done["response"]["output"][0];
    assert_eq!(item["type"], "message");
    let transcript = item["content"][0]["transcript"].as_str().unwrap();
    assert!(
        transcript.contains("sunny, 21 C") && transcript.contains("14:05"),
        "{transcript}"
    );
}

#[tokio::test]
async fn an_out_of_band_response_runs_beside_the_default_one() {
    let (_sim, tx, mut rx) =
        start(SimulatorOptions::default().reply_text("One two three four five six.")).await;
    say(&tx, &mut rx, "hello").await;
    send(&tx, json!({"type": "response.create"})).await;
    let created = next(&mut rx).await;
    assert_eq!(created["type"], "response.created");
    let default_id = created["response"]["id"].clone();
    send(
        &tx,
        json!({"type": "response.create", "response": {"conversation": "none",
        "output_modalities": ["text"], "metadata": {"topic": "classify"}}}),
    )
    .await;
    let mut events = Vec::new();
    let mut dones = Vec::new();
    while dones.len() < 2 {
        let ev = next(&mut rx).await;
        assert_ne!(ev["type"], "error", "{ev}");
        if ev["type"] == "response.done" {
            dones.push(ev.clone());
        }
        events.push(ev);
    }
    let oob_created = events
        .iter()
        .find(|e| e["type"] == "response.created")
        .expect("the out-of-band response.created");
    let oob = &oob_created["response"];
    assert_ne!(oob["id"], default_id);
    assert_eq!(oob["conversation_id"], Value::Null);
    assert_eq!(oob["metadata"], json!({"topic": "classify"}));
    let default_done = dones
        .iter()
        .find(|d| d["response"]["id"] == default_id)
        .unwrap();
    assert_eq!(default_done["response"]["status"], "completed");
    let oob_done = dones
        .iter()
        .find(|d| d["response"]["id"] == oob["id"])
        .unwrap();
    assert_eq!(oob_done["response"]["status"], "completed");
    assert_eq!(oob_done["response"]["conversation_id"], Value::Null);
    assert_eq!(
        oob_done["response"]["metadata"],
        json!({"topic": "classify"})
    );
    let oob_item = oob_done["response"]["output"][0]["id"].clone();
    for e in &events {
        if e["type"].as_str().unwrap().starts_with("conversation.item") {
            assert_ne!(e["item"]["id"], oob_item, "{e}");
        }
    }
    send(
        &tx,
        json!({"type": "conversation.item.retrieve", "item_id": oob_item}),
    )
    .await;
    assert_eq!(next(&mut rx).await["error"]["code"], "item_not_found");
}

#[tokio::test]
async fn a_default_response_may_start_while_an_out_of_band_one_runs() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default().reply_text(LONG)).await;
    send(
        &tx,
        json!({"type": "response.create", "response": {"conversation": "none",
        "output_modalities": ["text"]}}),
    )
    .await;
    let created = next(&mut rx).await;
    assert_eq!(created["response"]["conversation_id"], Value::Null);
    // A cancel without an id is for the default conversation, which has none running.
    send(&tx, json!({"type": "response.cancel"})).await;
    let (_, err) = until(&mut rx, "error").await;
    assert_eq!(err["error"]["code"], "response_cancel_not_active");
    send(&tx, text_response()).await;
    let mut done = Vec::new();
    while done.len() < 2 {
        let ev = next(&mut rx).await;
        assert_ne!(ev["type"], "error", "{ev}");
        if ev["type"] == "response.done" {
            assert_eq!(ev["response"]["status"], "completed", "{ev}");
            done.push(ev["response"]["conversation_id"].clone());
        }
    }
    assert_eq!(done, [Value::Null, json!("conv_sim")]);
}

fn approval(request: &Value, approve: bool) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "mcp_approval_response",
        "approval_request_id": request["id"], "approve": approve}})
}

#[tokio::test]
async fn an_mcp_call_waits_for_approval() {
    let args = r#"{"repoName":"openai/openai-openapi"}"#;
    let options = SimulatorOptions::default()
        .mcp_approval("deepwiki", "ask_question", args)
        .pace(Pace::Fast);
    let (_sim, tx, mut rx) = start(options).await;
    say(&tx, &mut rx, "What is in that repository?").await;
    let (events, done) = respond(&tx, &mut rx, text_response()).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "conversation.item.done",
            "response.output_item.done",
        ]
    );
    let request = &done["response"]["output"][0];
    let expected = json!({"type": "mcp_approval_request", "id": request["id"],
        "server_label": "deepwiki", "name": "ask_question", "arguments": args});
    assert_eq!(*request, expected);

    // Approved: the call is made and its output reported in words.
    send(&tx, approval(request, true)).await;
    let (_, added) = until(&mut rx, "conversation.item.done").await;
    assert_eq!(added["previous_item_id"], request["id"]);
    let (events, done) = respond(&tx, &mut rx, text_response()).await;
    let kinds = types(&events);
    for ty in [
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ] {
        assert!(kinds.contains(&ty), "{ty} missing: {kinds:?}");
    }
    let output = done["response"]["output"].as_array().unwrap();
    let call = &output[0];
    assert_eq!(call["type"], "mcp_call");
    assert_eq!(
        (&call["server_label"], &call["name"], &call["arguments"]),
        (&json!("deepwiki"), &json!("ask_question"), &json!(args))
    );
    assert_eq!(call["output"], vivavoce::mock::MCP_OUTPUT);
    assert_eq!(call["approval_request_id"], request["id"]);
    assert_eq!(output[1]["type"], "message");
    let text = output[1]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(vivavoce::mock::MCP_OUTPUT), "{text}");

    // Denied: no call, words saying so.
    say(&tx, &mut rx, "Ask it again.").await;
    let (_, done) = respond(&tx, &mut rx, text_response()).await;
    let request = done["response"]["output"][0].clone();
    assert_eq!(request["type"], "mcp_approval_request");
    send(&tx, approval(&request, false)).await;
    until(&mut rx, "conversation.item.done").await;
    let (events, done) = respond(&tx, &mut rx, text_response()).await;
    assert!(!types(&events).iter().any(|t| t.contains("mcp_call")));
    let output = done["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    let text = output[0]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("not approved"), "{text}");
}

async fn transcription_session(tx: &EventSender, rx: &mut EventReceiver, model: &str) {
    send(
        tx,
        json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": null, "transcription": {"model": model}}}}}),
    )
    .await;
    until(rx, "session.updated").await;
}

#[tokio::test]
async fn committed_audio_is_transcribed_when_transcription_is_on() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    transcription_session(&tx, &mut rx, "gpt-4o-transcribe").await;
    commit_speech(&tx).await;
    let (events, completed) = until(
        &mut rx,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(
        types(&events)[..3],
        [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done"
        ]
    );
    let item = events[1]["item"]["id"].clone();
    let deltas = &events[3..];
    assert!(deltas.len() >= 2, "word by word: {deltas:?}");
    for d in deltas {
        assert_eq!(
            d["type"],
            "conversation.item.input_audio_transcription.delta"
        );
        assert_eq!((&d["item_id"], &d["content_index"]), (&item, &json!(0)));
    }
    let text = concat(
        deltas,
        "conversation.item.input_audio_transcription.delta",
        "delta",
    );
    assert_eq!(completed["transcript"], text);
    assert_eq!(
        (&completed["item_id"], &completed["content_index"]),
        (&item, &json!(0))
    );
    let usage = &completed["usage"];
    assert_eq!(usage["type"], "tokens");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    // The stored item has its transcript.
    send(
        &tx,
        json!({"type": "conversation.item.retrieve", "item_id": item}),
    )
    .await;
    assert_eq!(
        next(&mut rx).await["item"]["content"][0]["transcript"],
        text
    );
}

#[tokio::test]
async fn whisper_transcription_usage_is_a_duration() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    transcription_session(&tx, &mut rx, "whisper-1").await;
    commit_speech(&tx).await;
    let (_, completed) = until(
        &mut rx,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(completed["usage"]["type"], "duration");
    assert!(completed["usage"]["seconds"].as_f64().unwrap() > 0.5);
}

#[tokio::test]
async fn no_transcription_events_without_transcription() {
    let (_sim, tx, mut rx) = start(SimulatorOptions::default()).await;
    send(
        &tx,
        json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": null}}}}),
    )
    .await;
    until(&mut rx, "session.updated").await;
    commit_speech(&tx).await;
    send(&tx, json!({"type": "input_audio_buffer.clear"})).await;
    let (events, _) = until(&mut rx, "input_audio_buffer.cleared").await;
    assert_eq!(
        types(&events),
        [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done"
        ]
    );
}

#[tokio::test]
async fn scripted_transcript_and_failure() {
    let options = SimulatorOptions::default().input_transcript("Book a table for two");
    let (_sim, tx, mut rx) = start(options).await;
    transcription_session(&tx, &mut rx, "gpt-4o-transcribe").await;
    commit_speech(&tx).await;
    let (events, completed) = until(
        &mut rx,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(completed["transcript"], "Book a table for two");
    let deltas = concat(
        &events,
        "conversation.item.input_audio_transcription.delta",
        "delta",
    );
    assert_eq!(deltas, "Book a table for two");

    let (_sim, tx, mut rx) = start(SimulatorOptions::default().fail_transcription(true)).await;
    transcription_session(&tx, &mut rx, "gpt-4o-transcribe").await;
    commit_speech(&tx).await;
    send(&tx, json!({"type": "input_audio_buffer.clear"})).await;
    let (events, _) = until(&mut rx, "input_audio_buffer.cleared").await;
    let failed = events.last().unwrap();
    assert_eq!(
        failed["type"],
        "conversation.item.input_audio_transcription.failed"
    );
    assert_eq!(
        (&failed["item_id"], &failed["content_index"]),
        (&events[1]["item"]["id"], &json!(0))
    );
    assert!(
        failed["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        !types(&events)
            .iter()
            .any(|t| t.ends_with(".delta") || t.ends_with(".completed"))
    );
}
