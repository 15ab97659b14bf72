//! HTTP error answers: the status, the API's error object (also when it comes inside a
//! successful answer, a stream's error event), the retry hints, and the kind they give.

use std::time::Duration;

use super::{Error, ErrorKind};

impl Error {
    /// An HTTP error answer, with the API's error object and the retry headers parsed.
    pub(crate) fn http_status(
        status: u16,
        url: impl Into<String>,
        body: String,
        headers: Option<&http::HeaderMap>,
    ) -> Self {
        let header = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let retry_after = header("retry-after-ms")
            .and_then(|v| wait_of(v, 1000.0))
            .or_else(|| header("retry-after").and_then(parse_retry_after))
            .or_else(|| google_retry_delay(&body));
        let should_retry = match header("x-should-retry") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        Error::Http(Box::new(HttpError {
            status,
            url: url.into(),
            api: ApiError::from_body(&body),
            body,
            retry_after,
            should_retry,
        }))
    }
}

/// Google's wait in the body rather than a header: a `google.rpc.RetryInfo` among the
/// error's `details`, `{"retryDelay": "37s"}` (Gemini's 429 answers).
fn google_retry_delay(body: &str) -> Option<Duration> {
    if !body.contains("RetryInfo") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let details = v.pointer("/error/details")?.as_array()?;
    let info = details.iter().find(|d| {
        d.get("@type")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
    })?;
    let delay = info.get("retryDelay")?.as_str()?.strip_suffix('s')?;
    Duration::try_from_secs_f64(delay.parse().ok()?).ok()
}

/// Google's sign of a daily quota spent rather than a rate exceeded (one status,
/// `RESOURCE_EXHAUSTED`, says both): a `google.rpc.QuotaFailure` among the error's
/// `details` with a violation whose `quotaId` counts per day
/// (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`). Retrying before the day ends is
/// pointless; a per-minute limit is a rate limit, and is retried.
fn google_daily_quota(body: &str) -> bool {
    if !body.contains("QuotaFailure") {
        return false;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let details = v.pointer("/error/details").and_then(|d| d.as_array());
    details.into_iter().flatten().any(|d| {
        let failure = d
            .get("@type")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|t| t.ends_with("google.rpc.QuotaFailure"));
        let violations = d.get("violations").and_then(|v| v.as_array());
        failure
            && violations.into_iter().flatten().any(|v| {
                v.get("quotaId")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|id| id.contains("PerDay"))
            })
    })
}

/// `Retry-After`: seconds, or an HTTP date (how long from now until then).
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Some(wait) = wait_of(v, 1.0) {
        return Some(wait);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A wait given as a number of `per_second` units: one too long for a `Duration`
/// (`1e300`, `inf`) saturates at `Duration::MAX`, which no retry policy waits for;
/// negative, not a number, or not a number at all: none.
fn wait_of(v: &str, per_second: f64) -> Option<Duration> {
    let n = v.parse::<f64>().ok().filter(|n| *n >= 0.0)?;
    Some(Duration::try_from_secs_f64(n / per_second).unwrap_or(Duration::MAX))
}

/// An HTTP error answer from the API, in [`Error::Http`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpError {
    /// The HTTP status code, e.g. 401.
    pub status: u16,
    /// The URL that was requested.
    pub url: String,
    /// The response body as text.
    pub body: String,
    /// The API's error object, when the body holds one.
    pub api: Option<ApiError>,
    /// How long the server asked to wait before trying again (`retry-after-ms` or
    /// `Retry-After`, in seconds or as an HTTP date); a wait too long to hold saturates
    /// at `Duration::MAX`.
    pub retry_after: Option<Duration>,
    /// The server's `x-should-retry` header, when it sent one.
    pub should_retry: Option<bool>,
}

impl HttpError {
    /// See [`Error::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        if let Some(yes) = self.should_retry {
            return yes;
        }
        if self.status < 400
            && let Some(kind) = self.typed_kind()
        {
            return matches!(kind, ErrorKind::Server | ErrorKind::RateLimited);
        }
        match self.status_meant() {
            Some(408 | 409) => true,
            Some(429) => !self.is_quota(),
            Some(s) => s >= 500,
            None => false,
        }
    }

    /// The HTTP status the error stands for: the answer's own when it is an error status;
    /// inside a successful answer (an error object in a 200 stream), a numeric `code`
    /// between 400 and 599, as OpenRouter sends (`{"error":{"code":502,"message":…}}`).
    fn status_meant(&self) -> Option<u16> {
        if self.status >= 400 {
            return Some(self.status);
        }
        let code = self.api.as_ref()?.code.as_deref()?.parse::<u16>().ok()?;
        (400..600).contains(&code).then_some(code)
    }

    /// The kind an error sent inside a successful answer (a stream's `error` event) gives
    /// by its `type`: Anthropic's `overloaded_error` (its HTTP 529) and `api_error` are
    /// Server, `rate_limit_error` RateLimited, Google's `UNAVAILABLE` Server, and so on.
    /// Without a known `type`, a known word as the `code` (OpenRouter's and the Responses
    /// API's `server_error`).
    fn typed_kind(&self) -> Option<ErrorKind> {
        let api = self.api.as_ref()?;
        kind_named(&api.kind).or_else(|| kind_named(api.code.as_deref()?))
    }

    /// See [`Error::kind`].
    ///
    /// Inside a successful answer the error object's `type` decides, or else its numeric
    /// `code` read as the HTTP status it stands for.
    pub fn kind(&self) -> ErrorKind {
        if self.status < 400
            && let Some(kind) = self.typed_kind()
        {
            return kind;
        }
        match self.status_meant() {
            Some(400 | 413 | 422) => ErrorKind::InvalidRequest,
            Some(401) => ErrorKind::Auth,
            Some(402) => ErrorKind::QuotaExceeded,
            Some(403) => ErrorKind::Permission,
            Some(404) => ErrorKind::NotFound,
            Some(408) => ErrorKind::Timeout,
            Some(429) if self.is_quota() => ErrorKind::QuotaExceeded,
            Some(429) => ErrorKind::RateLimited,
            Some(s) if s >= 500 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }

    /// A 429 for an exhausted quota: `insufficient_quota` as the code or the type,
    /// Anthropic's `billing_error`, or Google's daily quota (see `google_daily_quota`).
    fn is_quota(&self) -> bool {
        self.api.as_ref().is_some_and(|a| {
            a.code.as_deref() == Some("insufficient_quota")
                || matches!(a.kind.as_str(), "insufficient_quota" | "billing_error")
        }) || google_daily_quota(&self.body)
    }
}

/// The kind an error object's `type` (or `code`) names: Anthropic's types, OpenAI's
/// `server_error`, `rate_limit_exceeded` and `insufficient_quota` (the Responses API
/// says it in the `code` only), Google's statuses (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, …).
fn kind_named(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "overloaded_error" | "api_error" | "server_error" => ErrorKind::Server,
        "rate_limit_error" | "rate_limit_exceeded" => ErrorKind::RateLimited,
        "authentication_error" => ErrorKind::Auth,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
        "timeout_error" => ErrorKind::Timeout,
        "billing_error" | "insufficient_quota" => ErrorKind::QuotaExceeded,
        // Google's statuses (Gemini's error objects).
        "UNAVAILABLE" | "INTERNAL" => ErrorKind::Server,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAUTHENTICATED" => ErrorKind::Auth,
        "PERMISSION_DENIED" => ErrorKind::Permission,
        "NOT_FOUND" => ErrorKind::NotFound,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => ErrorKind::InvalidRequest,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => return None,
    })
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} from {}: ", self.status, self.url)?;
        match &self.api {
            Some(api) => std::fmt::Display::fmt(api, f),
            None => f.write_str(&self.body),
        }
    }
}

/// The error object of an API error answer: `{"error": {"type", "code", "param",
/// "message"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The error's `type`, e.g. `invalid_request_error` (empty when not given).
    pub kind: String,
    /// The error's `code`, e.g. `invalid_api_key` or `rate_limit_exceeded`.
    pub code: Option<String>,
    /// The parameter at fault, e.g. `messages`.
    pub param: Option<String>,
    /// The API's message.
    pub message: String,
}

impl ApiError {
    /// The error object in a stream event's text, or the text itself as the message when
    /// it has none (never lost).
    #[cfg(feature = "chat")]
    #[cold]
    pub(crate) fn of_event(data: &str) -> ApiError {
        ApiError::from_body(data).unwrap_or_else(|| ApiError {
            message: data.to_owned(),
            ..ApiError::default()
        })
    }

    /// Reads `{"error": {…}}` (OpenAI and most compatible servers), `{"error": "text"}`,
    /// the Responses API's `{"response": {"error": {…}}}`, or a bare `{"type", "message",
    /// …}`; `None` for anything else. Google's `{"error": {"code": 429, "message",
    /// "status": "RESOURCE_EXHAUSTED"}}` gives its `status` as the [`kind`](Self::kind) and
    /// its `code` as the code.
    pub fn from_body(body: &str) -> Option<ApiError> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let text = |v: Option<&serde_json::Value>| match v? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let obj = match v.get("error") {
            Some(serde_json::Value::String(message)) => {
                return Some(ApiError {
                    message: message.clone(),
                    ..ApiError::default()
                });
            }
            Some(e @ serde_json::Value::Object(_)) => e,
            // The Responses API's `response.failed` event.
            _ if v.pointer("/response/error").is_some_and(|e| e.is_object()) => {
                &v["response"]["error"]
            }
            _ if v.get("message").is_some() => &v,
            _ => return None,
        };
        Some(ApiError {
            // Google's errors have no `type` but a `status` (`RESOURCE_EXHAUSTED`).
            kind: text(obj.get("type"))
                .or_else(|| text(obj.get("status")))
                .unwrap_or_default(),
            code: text(obj.get("code")),
            param: text(obj.get("param")),
            message: text(obj.get("message")).unwrap_or_default(),
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, self.kind.is_empty()) {
            (Some(code), _) => write!(f, "{code}: ")?,
            (None, false) => write!(f, "{}: ", self.kind)?,
            (None, true) => {}
        }
        f.write_str(&self.message)?;
        if let Some(param) = &self.param {
            write!(f, " (param `{param}`)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_parsed_with_retry_hints() {
        let body = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        let e = Error::http_status(429, "https://x/v1/chat", body.into(), Some(&headers));
        let api = e.api_error().expect("parsed");
        assert_eq!(api.kind, "requests");
        assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
        assert_eq!(api.param, None);
        assert_eq!(api.message, "Rate limit reached");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "HTTP 429 from https://x/v1/chat: rate_limit_exceeded: Rate limit reached"
        );

        // OpenAI's millisecond header wins; an exhausted quota is not worth retrying.
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let e = Error::http_status(429, "u", quota.into(), Some(&headers));
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert!(!e.is_retryable());

        // x-should-retry decides; an HTTP date is a wait from now.
        let mut headers = http::HeaderMap::new();
        headers.insert("x-should-retry", "false".parse().unwrap());
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
        headers.insert("retry-after", later.parse().unwrap());
        let e = Error::http_status(503, "u", "busy".into(), Some(&headers));
        assert!(!e.is_retryable());
        assert!(e.api_error().is_none());
        let wait = e.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        assert_eq!(e.to_string(), "HTTP 503 from u: busy");

        // Other shapes compatible servers use.
        let e = Error::http_status(400, "u", r#"{"error":"bad model"}"#.into(), None);
        assert_eq!(e.api_error().unwrap().message, "bad model");
        let e = Error::http_status(
            401,
            "u",
            r#"{"type":"auth","message":"no","code":401}"#.into(),
            None,
        );
        assert_eq!(e.api_error().unwrap().code.as_deref(), Some("401"));
        assert!(!e.is_retryable());
        // An error inside a 200 stream: its type decides (Anthropic's HTTP tests are in
        // tests/chat_anthropic.rs).
        let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#;
        let e = Error::http_status(200, "u", overloaded.into(), None);
        assert!(e.kind() == ErrorKind::Server && e.is_retryable());
        let e = Error::http_status(200, "u", r#"{"error":{"message":"x"}}"#.into(), None);
        assert!(e.kind() == ErrorKind::Other && !e.is_retryable());
        // Google's error object: its status is the kind.
        let google =
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
        let e = Error::http_status(200, "u", google.into(), None);
        let api = e.api_error().unwrap();
        assert_eq!(
            (api.kind.as_str(), api.code.as_deref()),
            ("UNAVAILABLE", Some("503"))
        );
        assert!(e.kind() == ErrorKind::Server && e.is_retryable());
        let google =
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#;
        let e = Error::http_status(429, "u", google.into(), None);
        assert!(e.kind() == ErrorKind::RateLimited && e.is_retryable());
        assert_eq!(e.retry_after(), None);
        let google = r#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37.5s"}]}}"#;
        let e = Error::http_status(429, "u", google.into(), None);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(37_500)));
        // Google's one status for both: a daily quota spent is not worth retrying today.
        let quota = |id: &str| {
            format!(
                r#"{{"error":{{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"{id}"}}]}}]}}}}"#
            )
        };
        let daily = Error::http_status(
            429,
            "u",
            quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
            None,
        );
        assert!(daily.kind() == ErrorKind::QuotaExceeded && !daily.is_retryable());
        let minute = Error::http_status(
            429,
            "u",
            quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
            None,
        );
        assert!(minute.kind() == ErrorKind::RateLimited && minute.is_retryable());
        for status in [408, 409, 500, 502] {
            assert!(Error::http_status(status, "u", String::new(), None).is_retryable());
        }
    }

    #[test]
    fn a_numeric_code_inside_a_200_stream_stands_for_its_status() {
        let in_stream = |code: &str| {
            let body = format!(r#"{{"error":{{"code":{code},"message":"upstream said no"}}}}"#);
            Error::http_status(200, "u", body, None)
        };
        for (code, kind, retryable) in [
            ("502", ErrorKind::Server, true),
            ("503", ErrorKind::Server, true),
            ("429", ErrorKind::RateLimited, true),
            ("408", ErrorKind::Timeout, true),
            ("401", ErrorKind::Auth, false),
            ("403", ErrorKind::Permission, false),
            ("400", ErrorKind::InvalidRequest, false),
            ("402", ErrorKind::QuotaExceeded, false),
            // Not an HTTP status, or not an error one: nothing to read.
            ("200", ErrorKind::Other, false),
            ("7", ErrorKind::Other, false),
            // A word the kinds know: OpenRouter's documented mid-stream error.
            ("\"server_error\"", ErrorKind::Server, true),
            ("\"no_idea\"", ErrorKind::Other, false),
        ] {
            let e = in_stream(code);
            assert_eq!(e.status(), Some(200));
            assert_eq!((e.kind(), e.is_retryable()), (kind, retryable), "{code}");
        }
        // A `type` the kinds know wins over the code.
        let body = r#"{"error":{"type":"rate_limit_error","code":500,"message":"x"}}"#;
        let e = Error::http_status(200, "u", body.into(), None);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        // An error status is the answer's own, whatever the code says.
        let e = Error::http_status(503, "u", in_stream_body(401), None);
        assert!(e.kind() == ErrorKind::Server && e.is_retryable());
        // Anthropic's billing error: the quota, not worth retrying.
        let billing = r#"{"type":"error","error":{"type":"billing_error","message":"x"}}"#;
        for status in [200, 402, 429] {
            let e = Error::http_status(status, "u", billing.into(), None);
            assert!(
                e.kind() == ErrorKind::QuotaExceeded && !e.is_retryable(),
                "{status}"
            );
        }
    }

    #[test]
    fn odd_and_huge_waits_saturate_or_are_ignored() {
        let wait = |name: &str, value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            Error::http_status(429, "u", String::new(), Some(&h)).retry_after()
        };
        for huge in ["99999999999999999999999", "1e300", "inf"] {
            assert_eq!(wait("retry-after", huge), Some(Duration::MAX), "{huge}");
            assert_eq!(wait("retry-after-ms", huge), Some(Duration::MAX), "{huge}");
        }
        for odd in ["-1", "NaN", "soon", ""] {
            assert_eq!(wait("retry-after", odd), None, "{odd}");
        }
        assert_eq!(
            wait("retry-after", "1.5"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            wait("retry-after-ms", "250"),
            Some(Duration::from_millis(250))
        );
        // A date long past is no wait.
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(wait("retry-after", past), Some(Duration::ZERO));
    }

    fn in_stream_body(code: u16) -> String {
        format!(r#"{{"error":{{"code":{code},"message":"m"}}}}"#)
    }
}
