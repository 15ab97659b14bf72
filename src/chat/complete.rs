//! [`complete`]: one request, the whole answer.

use super::callbacks::collect;
use super::event::{ChatError, Complete};
use super::options::ChatOptions;
use super::stream::stream;

/// Sends a request and waits for the whole answer: [`stream`] underneath (so the idle
/// timeout and stop work as they do there), the chunks added up.
///
/// ```no_run
/// use vivavoce::chat::{complete, message, ChatOptions};
///
/// # async fn run() -> Result<(), vivavoce::Error> {
/// let answer = complete(ChatOptions::new("gpt-4o-mini", vec![message::user("Hi")])).await?;
/// println!("{} ({:?})", answer.result.content, answer.reason);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// A [`ChatError`]: what went wrong ([`Error::Http`](crate::Error::Http) with the API's parsed error, a lost
/// connection, a chunk that does not parse, …) and what had arrived before. It converts
/// into [`Error`](crate::Error) with `?`.
///
/// # Cancel safety
///
/// Cancel-safe: dropped before it completes, the request is stopped and nothing is kept.
pub async fn complete(options: ChatOptions) -> Result<Complete, ChatError> {
    let events = stream(options).map_err(|error| ChatError {
        error,
        partial: Default::default(),
    })?;
    collect(events).await
}
