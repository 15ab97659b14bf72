//! The conversation layer's tools, MCP approvals and both sides' transcripts, over real
//! sockets against the simulator.
#![cfg(all(feature = "mock", feature = "conversation"))]

mod conversation_support;

use conversation_support::{say, speak, start, text_session, until};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use vivavoce::mock::{Pace, SimulatorOptions};
use vivavoce::realtime::conversation::{
    ConversationEvent, ConversationOptions, Function, TextSource, ToolOutcome,
};
use vivavoce::realtime::events::{ResponseCreate, Role};
use vivavoce::realtime::{Item, ServerEvent, Session};

fn weather(calls: Arc<AtomicUsize>) -> Function {
    Function::new(
        "get_weather",
        "The weather now in a city.",
        json!({"type": "object", "properties": {"city": {"type": "string"}},
               "required": ["city"], "additionalProperties": false}),
        move |args| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let city = args["city"].as_str().unwrap_or_default().to_owned();
                Ok(json!(format!("sunny in {city}")))
            }
        },
    )
}

#[tokio::test]
async fn two_calls_in_one_response_one_broken_then_an_answer_in_words() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .function_call("get_weather", r#"{"city":"Paris"}"#)
            .function_call("get_weather", r#"{"city": "Par"#),
        ConversationOptions::default()
            .session(text_session())
            .function(weather(calls.clone())),
    )
    .await;
    say(&mut c, "Weather in Paris?").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    // The call response, then the follow-up the layer asks for.
    let seen = until(&mut c, 2, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let outcomes: Vec<&ToolOutcome> = seen
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::ToolCall(t) => Some(&t.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 2, "{seen:#?}");
    assert!(outcomes.contains(&&ToolOutcome::Answered(json!("sunny in Paris"))));
    assert!(outcomes.iter().any(
        |o| matches!(o, ToolOutcome::InvalidArguments(why) if why.contains("not valid JSON"))
    ));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the broken call is not run"
    );
    // One follow-up response, in words, using the output.
    let created = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                ConversationEvent::Server(ServerEvent::ResponseCreated(_))
            )
        })
        .count();
    assert_eq!(created, 2);
    let items = c.items();
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| match &i.item {
            Item::Message(_) => "message",
            Item::FunctionCall(_) => "call",
            Item::FunctionCallOutput(_) => "output",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["message", "call", "call", "output", "output", "message"]
    );
    let answer = &items[5];
    assert_eq!(answer.role, Some(Role::Assistant));
    assert!(answer.text.contains("sunny in Paris"), "{}", answer.text);
    assert!(answer.text.contains("error"), "{}", answer.text);
    assert!(!c.response_active());
}

#[tokio::test]
async fn the_calls_of_one_response_run_at_the_same_time() {
    // Each handler waits for the other: run one after the other, both would time out.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let meet = Function::new("meet", "Meets.", json!({"type": "object"}), move |_| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok(json!("met"))
        }
    });
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .function_call("meet", "{}")
            .function_call("meet", "{}"),
        ConversationOptions::default()
            .session(text_session())
            .function(meet)
            .tool_timeout(Duration::from_secs(5)),
    )
    .await;
    say(&mut c, "Meet.").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, 2, |e| matches!(e, ConversationEvent::ToolCall(_))).await;
    for e in &seen {
        if let ConversationEvent::ToolCall(t) = e {
            assert_eq!(t.outcome, ToolOutcome::Answered(json!("met")));
            assert_eq!(t.output, "met");
        }
    }
}

#[tokio::test]
async fn an_mcp_approval_request_is_answered_through_the_layer() {
    let (_sim, mut c) = start(
        SimulatorOptions::default().pace(Pace::Fast).mcp_approval(
            "deepwiki",
            "ask_question",
            r#"{"question":"What is vivavoce?"}"#,
        ),
        ConversationOptions::default().session(text_session()),
    )
    .await;
    say(&mut c, "Ask the wiki.").await;
    c.create_response(ResponseCreate::default()).await.unwrap();
    let seen = until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::McpApproval(_))
    })
    .await;
    let Some(ConversationEvent::McpApproval(request)) = seen.last() else {
        unreachable!()
    };
    assert_eq!(request.server_label, "deepwiki");
    assert_eq!(request.name, "ask_question");
    assert!(request.arguments.contains("vivavoce"));
    let id = request.id.clone();
    until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    c.approve(&id).await.unwrap();
    until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    assert!(
        c.items().iter().any(|i| matches!(i.item, Item::McpCall(_))),
        "the approved call ran: {:#?}",
        c.items()
    );
}

/// The user's speech transcribed and the model's spoken answer, each assembled from its
/// deltas, as one conversation.
#[tokio::test]
async fn both_sides_transcripts_are_assembled() {
    let (_sim, mut c) = start(
        SimulatorOptions::default()
            .pace(Pace::Fast)
            .input_transcript("What time is it?")
            .reply_text("It is noon."),
        ConversationOptions::default()
            .session(Session::default().input_transcription("gpt-4o-transcribe")),
    )
    .await;
    speak(&mut c, "what time is it").await;
    let seen = until(&mut c, 1, |e| {
        matches!(e, ConversationEvent::ResponseDone(_))
    })
    .await;
    let mut user = String::new();
    let mut assistant = String::new();
    for e in &seen {
        if let ConversationEvent::Text(t) = e {
            match t.source {
                TextSource::InputTranscription => {
                    assert_eq!(t.role, Role::User);
                    user.push_str(&t.delta);
                }
                TextSource::AudioTranscript => {
                    assert_eq!(t.role, Role::Assistant);
                    assistant.push_str(&t.delta);
                }
                TextSource::Text => panic!("no text output in an audio session"),
                _ => {}
            }
        }
    }
    // The user's transcript may complete after the answer began.
    let completed = |e: &ConversationEvent| {
        matches!(
            e,
            ConversationEvent::Server(ServerEvent::InputAudioTranscriptionCompleted(_))
        )
    };
    if !seen.iter().any(completed) {
        until(&mut c, 1, completed).await;
    }
    assert_eq!(assistant, "It is noon.");
    let items: Vec<(Option<Role>, String)> = c
        .items()
        .iter()
        .map(|i| (i.role.clone(), i.text.clone()))
        .collect();
    assert_eq!(
        items,
        [
            (Some(Role::User), "What time is it?".to_owned()),
            (Some(Role::Assistant), "It is noon.".to_owned()),
        ]
    );
}
