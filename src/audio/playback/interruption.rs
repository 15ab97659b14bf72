//! What an interruption cut ([`Interruption`]), and the events that tell the server.

use std::time::Duration;

use crate::Error;
use crate::realtime::EventSender;
use crate::realtime::events::{ConversationItemTruncate, ResponseCancel};

/// What an interruption cut, for the truncate the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interruption {
    /// The assistant item that was playing.
    pub item_id: String,
    /// Its audio content part.
    pub content_index: u32,
    /// The `audio_end_ms` for `conversation.item.truncate`: what was heard, clamped to the
    /// audio received, at least 1. `None` if nothing of the item was heard yet (there is
    /// nothing to truncate; the item simply never played).
    pub audio_end_ms: Option<u64>,
    /// Exactly how much was heard.
    pub played: Duration,
    /// The response, if it was still in progress (not yet `response.done`).
    pub response_in_progress: Option<String>,
}

/// Sends the truncate (when something was heard) and, if asked and the response is still
/// in progress, the cancel.
pub(crate) async fn send_interruption(
    sender: &EventSender,
    cut: &Interruption,
    cancel: bool,
) -> Result<(), Error> {
    if let Some(ms) = cut.audio_end_ms {
        sender
            .send(ConversationItemTruncate::new(
                &cut.item_id,
                cut.content_index,
                u32::try_from(ms).unwrap_or(u32::MAX),
            ))
            .await?;
    }
    if cancel && cut.response_in_progress.is_some() {
        sender.send(ResponseCancel::default()).await?;
    }
    Ok(())
}
