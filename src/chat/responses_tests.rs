//! Tests of the Responses API reader (`responses.rs`).

use super::*;

fn read(state: &mut StreamState, data: &str) -> Delta {
    state.read(data).unwrap().delta()
}

#[test]
fn text_events_read_as_deltas_and_completed_is_the_last() {
    let mut s = StreamState::default();
    let d = read(
        &mut s,
        r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-4.1","output":[],"usage":null}}"#,
    );
    assert_eq!(d.id.as_deref(), Some("resp_1"));
    assert!(d.choices.is_empty());
    let d = read(
        &mut s,
        r#"{"type":"response.output_item.added","output_index":0,"sequence_number":2,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
    );
    assert_eq!(d.choices[0].role.as_deref(), Some("assistant"));
    let d = read(
        &mut s,
        r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4,"logprobs":[]}"#,
    );
    assert_eq!(d.choices[0].content.as_deref(), Some("Hi"));
    assert_eq!(d.model.as_deref(), Some("gpt-4.1"));
    let done = r#"{"type":"response.output_text.done","item_id":"msg_1","output_index":0,"content_index":0,"text":"Hi","sequence_number":5,"logprobs":[]}"#;
    assert!(read(&mut s, done).choices.is_empty(), "no doubled text");
    let d = read(
        &mut s,
        r#"{"type":"response.refusal.delta","item_id":"msg_1","output_index":0,"content_index":1,"delta":"No.","sequence_number":6}"#,
    );
    assert_eq!(d.choices[0].refusal.as_deref(), Some("No."));
    for kind in [
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    ] {
        let e = format!(
            r#"{{"type":"{kind}","item_id":"rs_1","output_index":0,"summary_index":0,"content_index":0,"delta":"hm","sequence_number":7}}"#
        );
        let d = read(&mut s, &e);
        assert_eq!(d.choices[0].reasoning.as_deref(), Some("hm"), "{kind}");
        assert!(d.choices[0].content.is_none());
    }
    let Read::Last(d) = s
        .read(r#"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","status":"completed","model":"gpt-4.1","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":16},"total_tokens":123}}}"#)
        .unwrap()
    else {
        panic!("completed is the last event");
    };
    let c = &d.choices[0];
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert!(c.content.is_none(), "the output is not read again");
    let u = d.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (36, 87, 123)
    );
    assert_eq!(
        (u.cached_tokens(), u.reasoning_tokens()),
        (Some(4), Some(16))
    );
}

#[test]
fn function_calls_are_indexed_in_order_and_finish_as_tool_calls() {
    let mut s = StreamState::default();
    read(
        &mut s,
        r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
    );
    let d = read(
        &mut s,
        r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"","status":"in_progress"}}"#,
    );
    let t = &d.choices[0].tool_calls[0];
    assert_eq!((t.index, t.id.as_deref()), (0, Some("call_a")));
    let f = t.function.as_ref().unwrap();
    assert_eq!(
        (f.name.as_deref(), f.arguments.as_deref()),
        (Some("get_weather"), None)
    );
    let d = read(
        &mut s,
        r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"{\"city\":"}"#,
    );
    let t = &d.choices[0].tool_calls[0];
    assert_eq!((t.index, t.id.as_deref()), (0, None));
    assert_eq!(
        t.function.as_ref().unwrap().arguments.as_deref(),
        Some("{\"city\":")
    );
    read(
        &mut s,
        r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","call_id":"call_b","name":"get_time","arguments":""}}"#,
    );
    let d = read(
        &mut s,
        r#"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"{}"}"#,
    );
    assert_eq!(d.choices[0].tool_calls[0].index, 1);
    let stray = r#"{"type":"response.function_call_arguments.delta","output_index":7,"delta":"x"}"#;
    assert!(read(&mut s, stray).choices.is_empty(), "not a call of ours");
    let done =
        r#"{"type":"response.function_call_arguments.done","output_index":2,"arguments":"{}"}"#;
    assert!(read(&mut s, done).choices.is_empty());
    let Ok(Read::Last(d)) = s.read(
        r#"{"type":"response.completed","response":{"id":"resp_2","status":"completed","output":[],"usage":{"input_tokens":5,"output_tokens":7}}}"#,
    ) else {
        panic!("the end");
    };
    assert_eq!(d.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(d.usage.unwrap().total_tokens, 12, "summed when not given");
}

#[test]
fn incomplete_failed_and_error_events() {
    for (reason, want) in [
        ("max_output_tokens", "length"),
        ("content_filter", "content_filter"),
    ] {
        let mut s = StreamState::default();
        let e = format!(
            r#"{{"type":"response.incomplete","response":{{"id":"r","status":"incomplete","incomplete_details":{{"reason":"{reason}"}},"output":[],"usage":null}}}}"#
        );
        let Ok(Read::Last(d)) = s.read(&e) else {
            panic!("incomplete is the last event");
        };
        assert_eq!(d.choices[0].finish_reason.as_deref(), Some(want));
        assert!(d.usage.is_none());
    }
    let mut s = StreamState::default();
    let d = read(
        &mut s,
        r#"{"type":"response.failed","response":{"id":"resp_3","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"output":[]}}"#,
    );
    let e = d.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("server_error"));
    assert_eq!(e.message, "The model failed to generate a response.");
    assert_eq!(d.id.as_deref(), Some("resp_3"));
    let d = read(
        &mut s,
        r#"{"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}"#,
    );
    let e = d.error.unwrap();
    assert_eq!(
        (e.code.as_deref(), e.message.as_str()),
        (Some("ERR_SOMETHING"), "Something went wrong")
    );
}

#[test]
fn bad_events_are_errors_not_panics() {
    let mut s = StreamState::default();
    for bad in [
        "{not json",
        r#"{"no":"type"}"#,
        r#"{"type":"response.output_text.delta","delta":5}"#,
        r#"{"type":"response.function_call_arguments.delta","output_index":"x","delta":""}"#,
        r#"{"type":"response.output_item.added","output_index":0}"#,
        r#"{"type":"response.completed"}"#,
        "[]",
    ] {
        assert!(s.read(bad).is_err(), "{bad}");
    }
    let Err(e) = s.read(r#"{"type":"response.output_text.delta"}"#) else {
        panic!("no delta");
    };
    assert!(e.to_string().contains("delta"), "{e}");
    assert!(parse_message("{").is_err());
    assert!(parse_message(r#"{"output":5}"#).is_err());
}

#[test]
fn a_whole_response_reads_as_one_delta() {
    let d = parse_message(
        r#"{"id":"resp_4","object":"response","status":"completed","model":"gpt-4.1","output":[
            {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Thinking."}]},
            {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},
            {"type":"function_call","id":"fc_1","call_id":"call_9","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}
        ],"error":null,"incomplete_details":null,"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}"#,
    )
    .unwrap();
    let c = &d.choices[0];
    assert_eq!(c.content.as_deref(), Some("Let me check."));
    assert_eq!(c.reasoning.as_deref(), Some("Thinking."));
    assert_eq!(c.role.as_deref(), Some("assistant"));
    assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
    let t = &c.tool_calls[0];
    assert_eq!((t.index, t.id.as_deref()), (0, Some("call_9")));
    let f = t.function.as_ref().unwrap();
    assert_eq!(f.arguments.as_deref(), Some(r#"{"city":"Paris"}"#));
    assert_eq!(d.usage.unwrap().total_tokens, 30);
    assert!(d.error.is_none());
    let failed = parse_message(
        r#"{"id":"r","status":"failed","output":[],"error":{"code":"server_error","message":"boom"}}"#,
    )
    .unwrap();
    assert_eq!(failed.error.unwrap().message, "boom");
    let body = parse_message(r#"{"error":{"type":"server_error","message":"x"}}"#).unwrap();
    assert_eq!(body.error.unwrap().kind, "server_error");
}
