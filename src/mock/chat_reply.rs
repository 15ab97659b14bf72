//! One simulated answer, whatever the wire format: its text pieces or tool call, and what
//! an error answer says went wrong.

use super::chat_options::ChatSimulatorOptions;

/// One answer, whatever the wire format: the same id on every chunk.
pub(crate) struct Reply {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
    /// Content pieces, one per chunk.
    pub(crate) pieces: Vec<String>,
    /// `(call id, name, argument pieces)` for a tool call.
    pub(crate) tool: Option<(String, String, Vec<String>)>,
}

impl Reply {
    /// The answer `text`, cut and framed as `options` say.
    pub(crate) fn new(options: &ChatSimulatorOptions, text: &str, model: &str) -> Self {
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let pieces = match options.chunk_count {
            Some(n) => (0..n)
                .map(|i| words[i % words.len().max(1)].clone())
                .collect(),
            None => words,
        };
        let tool = options.tool_call.as_ref().map(|(name, args)| {
            let chars: Vec<char> = args.chars().collect();
            let parts = chars
                .chunks(chars.len().div_ceil(4).max(1))
                .map(|c| c.iter().collect())
                .collect();
            ("call_sim0001".to_owned(), name.clone(), parts)
        });
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Reply {
            id: format!("chatcmpl-sim{created}"),
            created,
            model: model.to_owned(),
            pieces,
            tool,
        }
    }

    /// The whole text.
    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }

    /// Output tokens: one per piece.
    pub(crate) fn output_tokens(&self) -> u64 {
        self.pieces.len() as u64
    }
}

/// Input tokens every simulated answer reports.
pub(crate) const INPUT_TOKENS: u64 = 12;

/// What an error answer says went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Auth,
    RateLimit,
    Quota,
    Overloaded,
    Server,
    BadRequest,
    NotFound,
}
