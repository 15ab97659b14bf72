//! What a simulated response says, from the conversation it answers and the script in
//! the options: the scripted MCP approval request or function calls after a user's turn,
//! an answer in words that uses the functions' outputs after those, the MCP call (or a
//! refusal) after an approval response, and otherwise the reply text.

use serde_json::Value;

use super::options::SimulatorOptions;
use super::response::{Kind, Output};

/// What a simulated MCP tool call returns.
pub const MCP_OUTPUT: &str = "simulated MCP output";

/// The output items of a response to `context` (the conversation, or the response's own
/// input), with ids from `new_id`.
pub(crate) fn reply(
    options: &SimulatorOptions,
    context: &[Value],
    new_id: &mut dyn FnMut(&str) -> String,
) -> Vec<Output> {
    let last = context.last();
    let kinds = match last.and_then(|i| i["type"].as_str()) {
        Some("function_call_output") => vec![Kind::Message {
            text: answer_with_outputs(context),
        }],
        Some("mcp_approval_response") => answer_approval(options, context),
        _ if last.is_none_or(is_user_turn)
            && let Some((label, name, args)) = &options.mcp_approval =>
        {
            vec![Kind::ApprovalRequest {
                server_label: label.clone(),
                name: name.clone(),
                arguments: args.clone(),
            }]
        }
        _ if last.is_none_or(is_user_turn) && !options.function_calls.is_empty() => options
            .function_calls
            .iter()
            .map(|(name, arguments)| Kind::Call {
                call_id: new_id("call"),
                name: name.clone(),
                arguments: arguments.clone(),
            })
            .collect(),
        _ => vec![Kind::Message {
            text: options.reply_text.clone(),
        }],
    };
    kinds
        .into_iter()
        .map(|kind| Output {
            item_id: new_id("item"),
            kind,
        })
        .collect()
}

/// A message from the user (or the system): what scripted calls answer.
fn is_user_turn(item: &Value) -> bool {
    item["type"] == "message" && (item["role"] == "user" || item["role"] == "system")
}

/// Words that carry the outputs given after the last function call.
fn answer_with_outputs(context: &[Value]) -> String {
    let since_call = context
        .iter()
        .rposition(|i| i["type"] == "function_call")
        .map_or(0, |at| at + 1);
    let outputs: Vec<&str> = context[since_call..]
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .filter_map(|i| i["output"].as_str())
        .collect();
    format!("Here is what I found: {}", outputs.join("; "))
}

/// After an `mcp_approval_response`: the call and what it returned, or a refusal.
fn answer_approval(options: &SimulatorOptions, context: &[Value]) -> Vec<Kind> {
    let Some(answer) = context.last() else {
        return Vec::new();
    };
    let request_id = answer["approval_request_id"].as_str();
    let request = context
        .iter()
        .rev()
        .find(|i| i["type"] == "mcp_approval_request" && i["id"].as_str() == request_id);
    let field = |key: &str, scripted: Option<&String>| {
        request
            .and_then(|r| r[key].as_str())
            .or(scripted.map(String::as_str))
            .unwrap_or("unknown")
            .to_owned()
    };
    let scripted = options.mcp_approval.as_ref();
    let server_label = field("server_label", scripted.map(|s| &s.0));
    let name = field("name", scripted.map(|s| &s.1));
    let arguments = field("arguments", scripted.map(|s| &s.2));
    if answer["approve"] != true {
        let text = format!("I did not call {name} on {server_label}: the call was not approved.");
        return vec![Kind::Message { text }];
    }
    let text = format!("The {name} tool on {server_label} returned: {MCP_OUTPUT}");
    vec![
        Kind::McpCall {
            server_label,
            name,
            arguments,
            approval_request_id: request_id.map(str::to_owned),
            output: MCP_OUTPUT.to_owned(),
        },
        Kind::Message { text },
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids() -> impl FnMut(&str) -> String {
        let mut n = 0;
        move |prefix| {
            n += 1;
            format!("{prefix}_{n}")
        }
    }

    fn user() -> Value {
        json!({ "type": "message", "role": "user", "content": [] })
    }

    #[test]
    fn calls_follow_a_user_turn_and_outputs_are_answered_in_words() {
        let options = SimulatorOptions::default()
            .function_call("a", "{}")
            .function_call("b", r#"{"x": "#);
        let calls = reply(&options, &[user()], &mut ids());
        let call_ids: Vec<&str> = calls
            .iter()
            .map(|o| match &o.kind {
                Kind::Call { call_id, .. } => call_id.as_str(),
                _ => panic!("not a call"),
            })
            .collect();
        assert_eq!(call_ids.len(), 2);
        assert_ne!(call_ids[0], call_ids[1]);
        let context = [
            user(),
            json!({ "type": "function_call_output", "call_id": "old", "output": "stale" }),
            json!({ "type": "function_call", "call_id": "c1" }),
            json!({ "type": "function_call", "call_id": "c2" }),
            json!({ "type": "function_call_output", "call_id": "c1", "output": "sunny" }),
            json!({ "type": "function_call_output", "call_id": "c2", "output": "21 C" }),
        ];
        match &reply(&options, &context, &mut ids())[..] {
            [
                Output {
                    kind: Kind::Message { text },
                    ..
                },
            ] => assert_eq!(text, "Here is what I found: sunny; 21 C"),
            _ => panic!("not one message"),
        }
        // After the assistant spoke, no call: the reply text.
        let spoke = [user(), json!({ "type": "message", "role": "assistant" })];
        assert!(matches!(
            &reply(&options, &spoke, &mut ids())[..],
            [Output { kind: Kind::Message { text }, .. }] if *text == options.reply_text
        ));
    }

    #[test]
    fn an_approval_is_asked_for_then_acted_on() {
        let options = SimulatorOptions::default()
            .function_call("f", "{}")
            .mcp_approval("deepwiki", "ask", r#"{"q":"x"}"#);
        let asked = reply(&options, &[user()], &mut ids());
        assert!(matches!(
            &asked[..],
            [Output { kind: Kind::ApprovalRequest { name, .. }, .. }] if name == "ask"
        ));
        let request = json!({ "type": "mcp_approval_request", "id": "req", "server_label": "wiki",
            "name": "lookup", "arguments": "{}" });
        let answer = |approve: bool| {
            json!({ "type": "mcp_approval_response", "approval_request_id": "req",
                "approve": approve })
        };
        let approved = reply(
            &options,
            &[user(), request.clone(), answer(true)],
            &mut ids(),
        );
        match &approved[..] {
            [
                Output {
                    kind:
                        Kind::McpCall {
                            name,
                            approval_request_id,
                            output,
                            ..
                        },
                    ..
                },
                Output {
                    kind: Kind::Message { text },
                    ..
                },
            ] => {
                assert_eq!(name, "lookup", "the request's tool, not the script's");
                assert_eq!(approval_request_id.as_deref(), Some("req"));
                assert!(text.contains(output.as_str()));
            }
            _ => panic!("not a call and a message"),
        }
        let denied = reply(&options, &[user(), request, answer(false)], &mut ids());
        assert!(matches!(
            &denied[..],
            [Output { kind: Kind::Message { text }, .. }] if text.contains("not approved")
        ));
    }
}
