//! The Realtime simulator's scripts: function calls (parallel, with arguments sent
//! verbatim) and the answer to their outputs, an MCP call awaiting approval, and input
//! audio transcription. Real sockets, through `connect`.
#![cfg(feature = "mock")]

mod simulator_support;

use serde_json::{Value, json};
use simulator_support::*;
use vivavoce::mock::{Pace, SimulatorOptions};
use vivavoce::realtime::{EventReceiver, EventSender};

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
