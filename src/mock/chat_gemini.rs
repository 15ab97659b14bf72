//! Google Gemini's shape of a simulated answer: one `GenerateContentResponse` per text
//! piece (the last with `finishReason` and the whole `usageMetadata`), or one whose part
//! is the whole `functionCall` (Gemini does not stream arguments); no end marker; the
//! whole answer; its errors (`{"error": {"code", "message", "status"}}`).

use serde_json::{Value, json};

use super::chat_reply::ErrorKind;
use super::chat_reply::{INPUT_TOKENS, Reply};

fn response_id(reply: &Reply) -> String {
    format!("sim{}", reply.created)
}

/// The running usage: the prompt's count at first, everything with the finish.
fn usage(reply: &Reply, last: bool) -> Value {
    if !last {
        return json!({ "promptTokenCount": INPUT_TOKENS, "totalTokenCount": INPUT_TOKENS });
    }
    let out = reply.output_tokens();
    json!({ "promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": out,
        "totalTokenCount": INPUT_TOKENS + out })
}

fn response(reply: &Reply, parts: Value, last: bool) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if last {
        candidate["finishReason"] = json!("STOP");
    }
    json!({ "candidates": [candidate], "usageMetadata": usage(reply, last),
        "modelVersion": reply.model, "responseId": response_id(reply) })
}

/// The function call part: its arguments whole, no id (as Gemini 2.x sends).
fn call_part(name: &str, pieces: &[String]) -> Value {
    let args: Value = serde_json::from_str(&pieces.concat()).unwrap_or_else(|_| json!({}));
    json!([{ "functionCall": { "name": name, "args": args } }])
}

/// The stream's events, the last one carrying the finish reason.
pub(crate) fn events(reply: &Reply) -> Vec<String> {
    let out: Vec<Value> = match &reply.tool {
        Some((_, name, pieces)) => vec![response(reply, call_part(name, pieces), true)],
        None if reply.pieces.is_empty() => vec![response(reply, json!([{ "text": "" }]), true)],
        None => {
            let n = reply.pieces.len();
            let text =
                |(i, p): (usize, &String)| response(reply, json!([{ "text": p }]), i + 1 == n);
            reply.pieces.iter().enumerate().map(text).collect()
        }
    };
    out.iter().map(|r| format!("data: {r}\r\n\r\n")).collect()
}

/// The whole answer, not streamed.
pub(crate) fn whole(reply: &Reply) -> Value {
    let parts = match &reply.tool {
        Some((_, name, pieces)) => call_part(name, pieces),
        None => json!([{ "text": reply.text() }]),
    };
    response(reply, parts, true)
}

/// The error object Gemini sends mid-stream when the model is overloaded.
pub(crate) fn error_event() -> String {
    let e = error_body(
        503,
        ErrorKind::Overloaded,
        "The model is overloaded. Please try again later.",
    );
    format!("data: {e}\r\n\r\n")
}

/// Gemini's error body: Google's status names.
pub(crate) fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    let name = match kind {
        ErrorKind::Auth => "UNAUTHENTICATED",
        ErrorKind::RateLimit | ErrorKind::Quota => "RESOURCE_EXHAUSTED",
        ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Server => "INTERNAL",
        ErrorKind::BadRequest => "INVALID_ARGUMENT",
        ErrorKind::NotFound => "NOT_FOUND",
    };
    let mut e = json!({ "error": { "code": status, "message": message, "status": name } });
    if kind == ErrorKind::RateLimit {
        // Google says how long to wait in the body too.
        e["error"]["details"] = json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": "1s" }]);
    }
    if kind == ErrorKind::Quota {
        // Which quota ran out: here the free tier's requests per day.
        e["error"]["details"] = json!([{ "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }] }]);
    }
    e
}
