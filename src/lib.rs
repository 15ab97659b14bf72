#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(feature = "audio")]
pub mod audio;
#[cfg(feature = "chat")]
pub mod chat;
mod error;
#[cfg(feature = "mock")]
pub mod mock;
pub mod realtime;
#[cfg(feature = "schema")]
pub mod schema;
mod time;

pub use error::{ApiError, Error, HttpError};
