//! What responses cost: token counts for `usage`, and the rate limits they use up.

use serde_json::{Value, json};

/// Input tokens every response is billed for (the simulator does not weigh its prompt).
const INPUT_TOKENS: u64 = 100;

/// Tokens of `text`: about four characters each.
pub(crate) fn text_tokens(text: &str) -> u64 {
    text.chars().count().div_ceil(4) as u64
}

/// Tokens of `ms` of output audio: one per 50 ms.
pub(crate) fn audio_tokens(ms: u64) -> u64 {
    ms.div_ceil(50)
}

/// A response's `usage` for the output it produced.
pub(crate) fn usage(text_tokens: u64, audio_tokens: u64) -> Value {
    let output = text_tokens + audio_tokens;
    json!({ "total_tokens": INPUT_TOKENS + output, "input_tokens": INPUT_TOKENS,
        "output_tokens": output,
        "input_token_details": { "text_tokens": INPUT_TOKENS, "audio_tokens": 0, "image_tokens": 0,
            "cached_tokens": 0 },
        "output_token_details": { "text_tokens": text_tokens, "audio_tokens": audio_tokens } })
}

/// Requests per minute the simulated account may make.
const REQUEST_LIMIT: u64 = 5_000;
/// Tokens per minute the simulated account may use.
const TOKEN_LIMIT: u64 = 400_000;

/// The session's rate limits: what its responses have used. The window never slides
/// (a simulated session is short), so `remaining` only goes down.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    requests: u64,
    tokens: u64,
}

impl RateLimits {
    /// Counts a new response, reserving the tokens it will use, and returns the
    /// `rate_limits.updated` event the API sends after its `response.created`.
    pub(crate) fn reserve(&mut self, tokens: u64) -> Value {
        self.requests += 1;
        self.tokens += tokens;
        let limit = |name: &str, limit: u64, used: u64| {
            // At the limit's steady rate, the time until what was used is back.
            let reset = (60_000.0 * used as f64 / limit as f64).round() / 1000.0;
            json!({ "name": name, "limit": limit, "remaining": limit.saturating_sub(used),
                "reset_seconds": reset })
        };
        json!({ "type": "rate_limits.updated", "rate_limits": [
            limit("requests", REQUEST_LIMIT, self.requests),
            limit("tokens", TOKEN_LIMIT, self.tokens),
        ] })
    }

    /// Corrects a reservation once the response is done (a cancelled one used less).
    pub(crate) fn settle(&mut self, reserved: u64, used: u64) {
        self.tokens = self.tokens.saturating_sub(reserved) + used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_goes_down_and_a_cancelled_response_gives_back_its_reservation() {
        let mut limits = RateLimits::default();
        let remaining = |event: &Value, i: usize| event["rate_limits"][i]["remaining"].as_u64();
        let first = limits.reserve(1_000);
        assert_eq!(remaining(&first, 0), Some(REQUEST_LIMIT - 1));
        assert_eq!(remaining(&first, 1), Some(TOKEN_LIMIT - 1_000));
        limits.settle(1_000, 200);
        let second = limits.reserve(1_000);
        assert_eq!(remaining(&second, 0), Some(REQUEST_LIMIT - 2));
        assert_eq!(remaining(&second, 1), Some(TOKEN_LIMIT - 1_200));
        assert!(second["rate_limits"][1]["reset_seconds"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn usage_adds_up() {
        let u = usage(text_tokens("twelve chars"), audio_tokens(1_001));
        assert_eq!(u["output_tokens"], 3 + 21);
        assert_eq!(u["total_tokens"], INPUT_TOKENS + 24);
    }
}
