//! The wire formats the chat simulator speaks, told apart by the request's path: where
//! each finds its key, model and messages, how its errors look, and how its answer is
//! framed.

use serde_json::Value;

use super::chat_reply::{ErrorKind, Reply};
use super::{chat_anthropic, chat_gemini, chat_ollama, chat_openai, chat_responses};

/// A wire format, as the simulator serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimWire {
    /// `POST /v1/chat/completions`.
    OpenAI,
    /// `POST /v1/messages`.
    Anthropic,
    /// `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` or `:generateContent`.
    Gemini,
    /// `POST /api/chat`.
    Ollama,
    /// `POST /v1/responses`.
    Responses,
}

/// What the request line says: the wire format, and for Gemini the model and whether it
/// streams (which its path carries rather than its body).
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) wire: SimWire,
    pub(crate) path_model: Option<String>,
    pub(crate) path_stream: Option<bool>,
}

impl Route {
    /// Reads the request line; `None` for a path no wire format serves.
    pub(crate) fn of(head: &str) -> Option<Route> {
        let line = head.lines().next()?;
        let path = line.strip_prefix("POST ")?.split(' ').next()?;
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let wire = |wire| Route {
            wire,
            path_model: None,
            path_stream: None,
        };
        match path {
            "/v1/chat/completions" => Some(wire(SimWire::OpenAI)),
            "/v1/messages" => Some(wire(SimWire::Anthropic)),
            "/api/chat" => Some(wire(SimWire::Ollama)),
            "/v1/responses" => Some(wire(SimWire::Responses)),
            _ => {
                let rest = path.strip_prefix("/v1beta/models/")?;
                let (model, method) = rest.rsplit_once(':')?;
                let stream = match method {
                    "streamGenerateContent" => query.split('&').any(|q| q == "alt=sse"),
                    "generateContent" => false,
                    _ => return None,
                };
                Some(Route {
                    wire: SimWire::Gemini,
                    path_model: Some(model.to_owned()),
                    path_stream: Some(stream),
                })
            }
        }
    }
}

impl SimWire {
    /// The key the request carries where this format sends it.
    pub(crate) fn given_key(self, head: &str) -> Option<&str> {
        let bearer = || header(head, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        match self {
            SimWire::OpenAI | SimWire::Responses | SimWire::Ollama => bearer(),
            SimWire::Anthropic => header(head, "x-api-key"),
            SimWire::Gemini => header(head, "x-goog-api-key").or_else(|| query_key(head)),
        }
    }

    /// Whether requests must carry the simulator's key (Ollama's need none).
    pub(crate) fn needs_key(self) -> bool {
        self != SimWire::Ollama
    }

    /// The request's model: in its body, or Gemini's path.
    pub(crate) fn model(self, route: &Route, request: &Value) -> String {
        route
            .path_model
            .clone()
            .or_else(|| {
                request
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "gpt-4o-mini".to_owned())
    }

    /// Whether the request asks for a stream (Ollama streams unless told not to).
    pub(crate) fn streams(self, route: &Route, request: &Value) -> bool {
        if let Some(s) = route.path_stream {
            return s;
        }
        let default = self == SimWire::Ollama;
        request
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// The user messages' texts, in order, from the format's message list.
    pub(crate) fn user_texts(self, request: &Value) -> Option<Vec<String>> {
        let list = match self {
            SimWire::Gemini => request.get("contents")?,
            SimWire::Responses => match request.get("input")? {
                Value::String(s) => return Some(vec![s.clone()]),
                v => v,
            },
            _ => request.get("messages")?,
        };
        let items = list.as_array()?;
        Some(
            items
                .iter()
                .filter(|m| m["role"] == "user")
                .map(|m| text_of(m.get("content").or_else(|| m.get("parts"))))
                .collect(),
        )
    }

    /// The content type of a streamed answer.
    pub(crate) fn stream_type(self) -> &'static str {
        match self {
            SimWire::Ollama => "application/x-ndjson",
            _ => "text/event-stream",
        }
    }

    /// The answer's events, each framed, the end marker included.
    pub(crate) fn events(self, reply: &Reply, include_usage: bool) -> Vec<String> {
        match self {
            SimWire::OpenAI => chat_openai::events(reply, include_usage),
            SimWire::Anthropic => chat_anthropic::events(reply),
            SimWire::Gemini => chat_gemini::events(reply),
            SimWire::Ollama => chat_ollama::events(reply),
            SimWire::Responses => chat_responses::events(reply),
        }
    }

    /// The whole answer, not streamed.
    pub(crate) fn whole(self, reply: &Reply) -> Value {
        match self {
            SimWire::OpenAI => chat_openai::whole(reply),
            SimWire::Anthropic => chat_anthropic::whole(reply),
            SimWire::Gemini => chat_gemini::whole(reply),
            SimWire::Ollama => chat_ollama::whole(reply),
            SimWire::Responses => chat_responses::whole(reply),
        }
    }

    /// The framed error event sent mid-stream by [`ChatFault::ErrorAfterChunks`](super::ChatFault::ErrorAfterChunks).
    pub(crate) fn error_event(self) -> String {
        match self {
            SimWire::OpenAI => chat_openai::error_event(),
            SimWire::Anthropic => chat_anthropic::error_event(),
            SimWire::Gemini => chat_gemini::error_event(),
            SimWire::Ollama => chat_ollama::error_event(),
            SimWire::Responses => chat_responses::error_event(),
        }
    }

    /// The headers of a 429 saying when to retry: `retry-after: 1` everywhere, and OpenAI's
    /// `retry-after-ms: 1000` on its own formats (Anthropic documents `retry-after` only).
    pub(crate) fn retry_headers(self) -> &'static str {
        match self {
            SimWire::OpenAI | SimWire::Responses => "retry-after: 1\r\nretry-after-ms: 1000\r\n",
            _ => "retry-after: 1\r\n",
        }
    }

    /// A malformed event in the format's framing.
    pub(crate) fn malformed(self) -> &'static str {
        match self {
            SimWire::Ollama => "{not json\n",
            _ => "data: {not json\n\n",
        }
    }

    /// An error body of HTTP `status`: `kind` is what went wrong (`auth`, `rate_limit`,
    /// `quota`, `overloaded`, `server`, `bad_request`, `not_found`).
    pub(crate) fn error_body(self, status: u16, kind: ErrorKind, message: &str) -> Value {
        match self {
            SimWire::OpenAI | SimWire::Responses => chat_openai::error_body(kind, message),
            SimWire::Anthropic => chat_anthropic::error_body(kind, message),
            SimWire::Gemini => chat_gemini::error_body(status, kind, message),
            SimWire::Ollama => chat_ollama::error_body(kind, message),
        }
    }
}

pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Gemini's `?key=` query parameter.
fn query_key(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let query = line.split(' ').nth(1)?.split_once('?')?.1;
    query.split('&').find_map(|q| q.strip_prefix("key="))
}

/// A message's text: a string, or its parts' texts joined.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path() {
        let r = Route::of("POST /v1/messages HTTP/1.1\r\n").unwrap();
        assert_eq!(r.wire, SimWire::Anthropic);
        let r = Route::of(
            "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\n",
        )
        .unwrap();
        assert_eq!(r.wire, SimWire::Gemini);
        assert_eq!(r.path_model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(r.path_stream, Some(true));
        let r = Route::of("POST /v1beta/models/g:generateContent HTTP/1.1\r\n").unwrap();
        assert_eq!(r.path_stream, Some(false));
        assert!(Route::of("POST /v1beta/models/g:countTokens HTTP/1.1\r\n").is_none());
        assert!(Route::of("GET /v1/chat/completions HTTP/1.1\r\n").is_none());
        assert_eq!(
            Route::of("POST /api/chat HTTP/1.1\r\n").unwrap().wire,
            SimWire::Ollama
        );
    }
}
