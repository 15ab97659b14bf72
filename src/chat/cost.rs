//! An estimate of what a request cost, from its usage and a price table you can change.

use std::collections::HashMap;

use super::delta::Usage;

/// A model's prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ChatPrices {
    /// Input (prompt) tokens not served from the cache.
    pub input: f64,
    /// Input tokens served from the cache.
    pub cached_input: f64,
    /// Output (completion) tokens, reasoning included.
    pub output: f64,
}

impl ChatPrices {
    /// Prices per million tokens: input, cached input, output.
    pub fn new(input: f64, cached_input: f64, output: f64) -> Self {
        ChatPrices {
            input,
            cached_input,
            output,
        }
    }

    /// What `usage` cost at these prices.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens().unwrap_or(0).min(usage.prompt_tokens);
        let per_million = |tokens: u64, price: f64| tokens as f64 * price / 1e6;
        per_million(usage.prompt_tokens - cached, self.input)
            + per_million(cached, self.cached_input)
            + per_million(usage.completion_tokens, self.output)
    }
}

/// Prices by model name, for [`PriceTable::cost`].
///
/// The default holds a few OpenAI models' published prices; prices change, so set the
/// ones you use with [`set`](Self::set) (a later `set` replaces an earlier one). A model
/// is found by its exact name, else by the longest name it starts with, so
/// `gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`.
///
/// ```
/// use vivavoce::chat::{ChatPrices, PriceTable, Usage};
/// let mut prices = PriceTable::default();
/// prices.set("my-model", ChatPrices::new(1.0, 0.1, 2.0));
/// let usage: Usage = serde_json::from_str(
///     r#"{"prompt_tokens": 1000000, "completion_tokens": 500000, "total_tokens": 1500000}"#,
/// ).unwrap();
/// assert_eq!(prices.cost("my-model", &usage), Some(2.0));
/// assert_eq!(prices.cost("unknown", &usage), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    models: HashMap<String, ChatPrices>,
}

impl Default for PriceTable {
    fn default() -> Self {
        let mut t = PriceTable::empty();
        for (model, input, cached, output) in [
            ("gpt-4o", 2.5, 1.25, 10.0),
            ("gpt-4o-mini", 0.15, 0.075, 0.6),
            ("gpt-4.1", 2.0, 0.5, 8.0),
            ("gpt-4.1-mini", 0.4, 0.1, 1.6),
            ("gpt-4.1-nano", 0.1, 0.025, 0.4),
        ] {
            t.set(model, ChatPrices::new(input, cached, output));
        }
        t
    }
}

impl PriceTable {
    /// A table with no prices.
    pub fn empty() -> Self {
        PriceTable {
            models: HashMap::new(),
        }
    }

    /// Sets (or replaces) a model's prices.
    pub fn set(&mut self, model: impl Into<String>, prices: ChatPrices) -> &mut Self {
        self.models.insert(model.into(), prices);
        self
    }

    /// A model's prices: by exact name, else by the longest known name it starts with.
    pub fn get(&self, model: &str) -> Option<&ChatPrices> {
        self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, p)| p)
        })
    }

    /// What `usage` cost with `model`, when its prices are known.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.get(model).map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(json: &str) -> Usage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn cached_tokens_are_priced_apart() {
        let u = usage(
            r#"{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100,
               "prompt_tokens_details":{"cached_tokens":400}}"#,
        );
        let p = ChatPrices::new(2.0, 0.5, 8.0);
        let want = (600.0 * 2.0 + 400.0 * 0.5 + 100.0 * 8.0) / 1e6;
        assert!((p.cost(&u) - want).abs() < 1e-15);
    }

    #[test]
    fn models_are_found_by_name_or_longest_prefix() {
        let t = PriceTable::default();
        assert_eq!(t.get("gpt-4o-mini-2024-07-18"), t.get("gpt-4o-mini"));
        assert_ne!(t.get("gpt-4o-mini"), t.get("gpt-4o"));
        assert_eq!(t.get("gpt-4o-2024-08-06"), t.get("gpt-4o"));
        assert!(t.get("claude").is_none());
        let mut t = t;
        t.set("gpt-4o", ChatPrices::new(0.0, 0.0, 0.0));
        let u = usage(r#"{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}"#);
        assert_eq!(t.cost("gpt-4o", &u), Some(0.0), "overridden");
    }
}
