//! The Realtime simulator's conversation as the API keeps it: item order, cancelled
//! responses that still complete their items, rate limits, session expiry and
//! out-of-band responses. Real sockets, through `connect`.
#![cfg(feature = "mock")]

mod simulator_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use simulator_support::*;
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::{EventSender, connect};

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
