//! What responses cost: token counts for `usage`.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up() {
        let u = usage(text_tokens("twelve chars"), audio_tokens(1_001));
        assert_eq!(u["output_tokens"], 3 + 21);
        assert_eq!(u["total_tokens"], INPUT_TOKENS + 24);
    }
}
