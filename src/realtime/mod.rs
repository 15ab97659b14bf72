//! The Realtime API: typed events, [`connect`], and the session handles.

pub(crate) mod decode;
mod events;

pub use events::*;
