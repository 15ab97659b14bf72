#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![deny(unsafe_code)]

#[cfg(feature = "audio")]
pub mod audio;
#[cfg(feature = "chat")]
pub mod chat;
mod error;
mod http_client;
mod inbox;
mod json_path;
#[cfg(feature = "mock")]
pub mod mock;
pub mod realtime;
#[cfg(feature = "schema")]
pub mod schema;
mod time;
mod url_check;

pub use error::{ApiError, Error, ErrorKind, HttpError};

// The command's own dependencies (feature `cli`): used by the `vivavoce` binary only.
#[cfg(feature = "cli")]
use {clap as _, crossterm as _, serde_path_to_error as _};
