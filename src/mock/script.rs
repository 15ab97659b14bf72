//! What a simulated response says, from the conversation it answers and the script in
//! the options: the scripted function calls after a user's turn, an answer in words
//! that uses the functions' outputs after those, and otherwise the reply text.

use serde_json::Value;

use super::options::SimulatorOptions;
use super::response::{Kind, Output};

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
                Kind::Message { .. } => panic!("a message"),
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
}
