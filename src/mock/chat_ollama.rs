//! Ollama's native `/api/chat` shape of a simulated answer: one JSON object per line,
//! each text piece in `message.content`, a tool call whole in `message.tool_calls` (its
//! arguments an object: Ollama does not stream them in pieces), then the `done: true`
//! line with `done_reason` and the eval counts; its whole answer; its errors.

use serde_json::{Value, json};

use super::chat_reply::ErrorKind;
use super::chat_reply::{INPUT_TOKENS, Reply};

/// Nanoseconds the simulated model "spent" per output token, for the durations.
const NS_PER_TOKEN: u64 = 20_000_000;

fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// `created_at` as Ollama writes it (RFC 3339, UTC).
fn created_at(reply: &Reply) -> String {
    let secs = reply.created;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The date `days` after 1970-01-01 (Howard Hinnant's days-to-civil).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The tool call as Ollama sends it: no id, the arguments an object.
fn tool_calls(reply: &Reply) -> Option<Value> {
    let (_, name, parts) = reply.tool.as_ref()?;
    let arguments: Value = serde_json::from_str(&parts.concat()).unwrap_or(json!({}));
    Some(json!([{ "function": { "name": name, "arguments": arguments } }]))
}

/// The last line's fields: the stop reason (Ollama says `stop` after a tool call too)
/// and the counts.
fn done(reply: &Reply, message: Value) -> Value {
    let out = reply.output_tokens();
    json!({ "model": reply.model, "created_at": created_at(reply), "message": message,
        "done_reason": "stop", "done": true,
        "total_duration": 1_000_000 + (INPUT_TOKENS + out) * NS_PER_TOKEN,
        "load_duration": 1_000_000, "prompt_eval_count": INPUT_TOKENS,
        "prompt_eval_duration": INPUT_TOKENS * NS_PER_TOKEN, "eval_count": out,
        "eval_duration": out * NS_PER_TOKEN })
}

/// The stream's lines, the `done: true` line last.
pub(crate) fn events(reply: &Reply) -> Vec<String> {
    let piece = |message: Value| {
        line(
            &json!({ "model": reply.model, "created_at": created_at(reply),
            "message": message, "done": false }),
        )
    };
    let mut out = Vec::new();
    match tool_calls(reply) {
        Some(calls) => out.push(piece(
            json!({ "role": "assistant", "content": "", "tool_calls": calls }),
        )),
        None => {
            for p in &reply.pieces {
                out.push(piece(json!({ "role": "assistant", "content": p })));
            }
        }
    }
    out.push(line(&done(
        reply,
        json!({ "role": "assistant", "content": "" }),
    )));
    out
}

/// The whole answer (`"stream": false`): one object with `done: true`.
pub(crate) fn whole(reply: &Reply) -> Value {
    let message = match tool_calls(reply) {
        Some(calls) => json!({ "role": "assistant", "content": "", "tool_calls": calls }),
        None => json!({ "role": "assistant", "content": reply.text() }),
    };
    done(reply, message)
}

/// The line Ollama sends when the model fails after the answer began.
pub(crate) fn error_event() -> String {
    line(&json!({ "error": "an error was encountered while running the model: unexpected EOF" }))
}

/// Ollama's error body: `{"error": "text"}`, whatever went wrong (the status says
/// which).
pub(crate) fn error_body(_kind: ErrorKind, message: &str) -> Value {
    json!({ "error": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
    }
}
