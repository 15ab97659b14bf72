//! Offline simulators of the OpenAI APIs, on 127.0.0.1, for apps without the live API
//! and for tests.
//!
//! [`RealtimeSimulator`] speaks the GA Realtime WebSocket protocol: it checks the key,
//! answers every client event as the API does (including its error events), and streams
//! responses with synthesised speech at real-time pace.

mod realtime;
mod response;
pub mod voice;

pub use realtime::{Pace, RealtimeSimulator, SimulatorOptions};
