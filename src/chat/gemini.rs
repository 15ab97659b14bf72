//! PLACEHOLDER: the gemini stream reader (to be written).

use serde_json::Value;

use super::delta::{Delta, DeltaError};
use super::wire::Read;

/// What a stream has said so far that later events need.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    finished: bool,
}

impl StreamState {
    /// Reads one event's data.
    pub(crate) fn read(&mut self, data: &str) -> Result<Read, DeltaError> {
        let _: Value = serde_json::from_str(data).map_err(|e| DeltaError::of::<Value>(data, &e))?;
        Ok(Read::Delta(Delta::default()))
    }

    /// Whether a stop reason was read.
    #[allow(dead_code)]
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }
}

/// Reads a whole answer.
pub(crate) fn parse_message(data: &str) -> Result<Delta, DeltaError> {
    let _: Value = serde_json::from_str(data).map_err(|e| DeltaError::of::<Value>(data, &e))?;
    Ok(Delta::default())
}
