//! Token usage per response and per session, and an optional cost estimate.

use crate::realtime::events::Usage;

/// Prices in US dollars per million tokens, for [`ResponseUsage::cost`].
///
/// The default is the published price of `gpt-realtime` (text in 4, cached 0.40, out 16;
/// audio in 32, cached 0.40, out 64). Set your model's prices with the fields.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Prices {
    /// Text input.
    pub text_input: f64,
    /// Cached text input.
    pub text_cached_input: f64,
    /// Text output.
    pub text_output: f64,
    /// Audio input.
    pub audio_input: f64,
    /// Cached audio input.
    pub audio_cached_input: f64,
    /// Audio output.
    pub audio_output: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            text_input: 4.0,
            text_cached_input: 0.4,
            text_output: 16.0,
            audio_input: 32.0,
            audio_cached_input: 0.4,
            audio_output: 64.0,
        }
    }
}

impl Prices {
    /// Prices per million tokens: `(input, cached input, output)` for text, then audio.
    pub fn new(text: (f64, f64, f64), audio: (f64, f64, f64)) -> Self {
        Prices {
            text_input: text.0,
            text_cached_input: text.1,
            text_output: text.2,
            audio_input: audio.0,
            audio_cached_input: audio.1,
            audio_output: audio.2,
        }
    }
}

/// Tokens by kind: of one response, or summed over a session.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct ResponseUsage {
    /// Responses counted (1 for one response).
    pub responses: u64,
    /// Input plus output tokens.
    pub total_tokens: u64,
    /// Input tokens, cached included.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input text tokens (cached included).
    pub input_text_tokens: u64,
    /// Input audio tokens (cached included).
    pub input_audio_tokens: u64,
    /// Input tokens served from the cache.
    pub cached_tokens: u64,
    /// Cached text input tokens.
    pub cached_text_tokens: u64,
    /// Cached audio input tokens.
    pub cached_audio_tokens: u64,
    /// Output text tokens.
    pub output_text_tokens: u64,
    /// Output audio tokens.
    pub output_audio_tokens: u64,
    /// Estimated cost in US dollars, when a price table is set.
    pub cost: Option<f64>,
}

impl ResponseUsage {
    /// The tokens of one `response.done`, priced with `prices`.
    pub fn from_usage(usage: Option<&Usage>, prices: Option<&Prices>) -> Self {
        let Some(u) = usage else {
            return ResponseUsage {
                responses: 1,
                cost: prices.map(|_| 0.0),
                ..Default::default()
            };
        };
        let input = u.input_token_details.as_ref();
        let output = u.output_token_details.as_ref();
        let input_text = input.and_then(|d| d.text_tokens).unwrap_or(0);
        let input_audio = input.and_then(|d| d.audio_tokens).unwrap_or(0);
        let cached = input.and_then(|d| d.cached_tokens).unwrap_or(0);
        let split = input.and_then(|d| d.cached_tokens_details.as_ref());
        let field = |name: &str| split.and_then(|s| s.get(name)).and_then(|v| v.as_u64());
        let (cached_text, cached_audio) = match (field("text_tokens"), field("audio_tokens")) {
            (Some(t), Some(a)) => (t, a),
            (Some(t), None) => (t, cached.saturating_sub(t)),
            (None, Some(a)) => (cached.saturating_sub(a), a),
            // Not split: the cache holds the start of the conversation; count it as text
            // first (the cheaper assumption is the same for both here).
            (None, None) => {
                let t = cached.min(input_text);
                (t, cached - t)
            }
        };
        let mut r = ResponseUsage {
            responses: 1,
            total_tokens: u.total_tokens,
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            input_text_tokens: input_text,
            input_audio_tokens: input_audio,
            cached_tokens: cached,
            cached_text_tokens: cached_text,
            cached_audio_tokens: cached_audio,
            output_text_tokens: output.and_then(|d| d.text_tokens).unwrap_or(0),
            output_audio_tokens: output.and_then(|d| d.audio_tokens).unwrap_or(0),
            cost: None,
        };
        r.cost = prices.map(|p| r.price(p));
        r
    }

    /// The cost of these tokens at `prices`, in US dollars.
    pub fn price(&self, p: &Prices) -> f64 {
        let m = |tokens: u64, per_million: f64| tokens as f64 * per_million / 1e6;
        m(
            self.input_text_tokens
                .saturating_sub(self.cached_text_tokens),
            p.text_input,
        ) + m(self.cached_text_tokens, p.text_cached_input)
            + m(
                self.input_audio_tokens
                    .saturating_sub(self.cached_audio_tokens),
                p.audio_input,
            )
            + m(self.cached_audio_tokens, p.audio_cached_input)
            + m(self.output_text_tokens, p.text_output)
            + m(self.output_audio_tokens, p.audio_output)
    }

    /// Adds another response's tokens (and cost) to these.
    pub fn add(&mut self, o: &ResponseUsage) {
        self.responses += o.responses;
        self.total_tokens += o.total_tokens;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.input_text_tokens += o.input_text_tokens;
        self.input_audio_tokens += o.input_audio_tokens;
        self.cached_tokens += o.cached_tokens;
        self.cached_text_tokens += o.cached_text_tokens;
        self.cached_audio_tokens += o.cached_audio_tokens;
        self.output_text_tokens += o.output_text_tokens;
        self.output_audio_tokens += o.output_audio_tokens;
        self.cost = match (self.cost, o.cost) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(json: &str) -> Usage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn prices_each_kind_of_token() {
        let u = usage(
            r#"{"total_tokens":1600,"input_tokens":1000,"output_tokens":600,
            "input_token_details":{"text_tokens":400,"audio_tokens":600,"cached_tokens":300,
              "cached_tokens_details":{"text_tokens":100,"audio_tokens":200}},
            "output_token_details":{"text_tokens":100,"audio_tokens":500}}"#,
        );
        let r = ResponseUsage::from_usage(Some(&u), Some(&Prices::default()));
        // 300 text at 4, 100 cached text at 0.4, 400 audio at 32, 200 cached audio at 0.4,
        // 100 text out at 16, 500 audio out at 64.
        let want =
            (300.0 * 4.0 + 100.0 * 0.4 + 400.0 * 32.0 + 200.0 * 0.4 + 100.0 * 16.0 + 500.0 * 64.0)
                / 1e6;
        assert!((r.cost.unwrap() - want).abs() < 1e-12, "{r:?}");
        let mut total = ResponseUsage::default();
        total.add(&r);
        total.add(&r);
        assert_eq!(total.responses, 2);
        assert_eq!(total.input_tokens, 2000);
        assert_eq!(total.output_audio_tokens, 1000);
        assert!((total.cost.unwrap() - 2.0 * want).abs() < 1e-12);
    }

    #[test]
    fn missing_usage_counts_the_response_only() {
        let r = ResponseUsage::from_usage(None, None);
        assert_eq!(r.responses, 1);
        assert_eq!(r.total_tokens, 0);
        assert_eq!(r.cost, None);
    }
}
