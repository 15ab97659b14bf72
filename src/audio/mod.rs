//! Native audio for Realtime sessions (feature `audio`).
//!
//! [`stream`] plays a session's audio on an output device and hands back the other
//! events; the [`Playback`] handle stops, drains, clears, interrupts, pauses and reports.
//! The device callback only reads a lock-free ring and writes atomics: decoding,
//! resampling (rubato's FFT resampler) and bookkeeping happen on a playback thread.
//!
//! What the device played is also available as an echo canceller's far-end reference
//! ([`Playback::echo_reference`]).

mod device;
mod feeder;
mod output;
mod playback;
mod position;
mod reference;
mod render;
mod resample;
mod stream;

pub use device::{DeviceInfo, devices};
pub use feeder::Interruption;
pub use output::{OutputInfo, OutputTarget};
pub use playback::{Playback, PlaybackMetrics, PlaybackOptions};
pub use position::ItemPosition;
pub use reference::{EchoReference, REFERENCE_FRAME, REFERENCE_RATE, ReferenceFrame};
pub use stream::stream;
