#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod error;
pub mod realtime;

pub use error::Error;
