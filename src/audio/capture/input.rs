//! Where capture comes from: a cpal input device, or a WAV file played in real time.
//!
//! Either way, frames land in a lock-free ring as interleaved `f32` through the
//! callback's [`Writer`](super::callback::Writer).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SizedSample};

use super::callback::{InputShared, Writer};
use crate::Error;
use crate::audio::device::{self, Direction, Running};

/// Where [`capture_audio`](crate::audio::capture_audio) records from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputSource {
    /// The system's default input device.
    #[default]
    Default,
    /// The input device whose name or description matches.
    Device(String),
    /// A WAV file (any rate and channel count, 16-bit or float), played in real time as a
    /// microphone would deliver it; capture ends at its end. For tests and machines
    /// without a microphone.
    Wav(PathBuf),
}

/// What the input was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputInfo {
    /// The device's name (or the WAV file's path).
    pub name: String,
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels per frame.
    pub channels: u16,
    /// The sample format read (`"f32"`, `"i16"`, …).
    pub sample_format: String,
}

/// Found and configured, not started: `start` builds the stream around the ring writer.
pub(crate) type Opened = device::Opened<InputInfo, Writer>;

pub(crate) fn open(
    source: &InputSource,
    rate: Option<u32>,
    buffer_frames: Option<u32>,
    shared: Arc<InputShared>,
) -> Result<Opened, Error> {
    match source {
        InputSource::Wav(path) => open_wav(path, shared),
        InputSource::Default | InputSource::Device(_) => {
            let wanted = match source {
                InputSource::Device(n) => Some(n.as_str()),
                _ => None,
            };
            let (dev, name, supported) = device::find_configured(Direction::Input, wanted, rate)?;
            let format = supported.sample_format();
            let mut config = supported.config();
            if let Some(n) = buffer_frames {
                config.buffer_size = cpal::BufferSize::Fixed(n);
            }
            let wanted = wanted.map(str::to_owned);
            Ok(Opened::new(
                InputInfo {
                    name: name.clone(),
                    sample_rate: config.sample_rate,
                    channels: config.channels,
                    sample_format: format.to_string(),
                },
                move |writer| {
                    let built = device::with_sample_type!(
                        format,
                        &name,
                        build(&dev, config, writer, shared)
                    )?;
                    Running::play(built, Direction::Input, wanted.as_deref(), &name)
                },
            ))
        }
    }
}

fn build<T: SizedSample>(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    mut writer: Writer,
    shared: Arc<InputShared>,
) -> Result<cpal::Stream, cpal::Error>
where
    f32: FromSample<T>,
{
    dev.build_input_stream(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let ts = info.timestamp();
            writer.write(data, ts.callback.saturating_duration_since(ts.capture));
        },
        move |e: cpal::Error| match e.kind() {
            cpal::ErrorKind::Xrun => {
                shared.xruns.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "audio input");
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {
                tracing::debug!(error = %e, "audio input");
            }
            _ => {
                tracing::warn!(error = %e, "audio input stream failed");
                shared.device_lost.store(true, Ordering::Release);
                shared.ended.store(true, Ordering::Release);
            }
        },
        Some(Duration::from_secs(5)),
    )
}

fn open_wav(path: &std::path::Path, shared: Arc<InputShared>) -> Result<Opened, Error> {
    let wav_error = |e: hound::Error| Error::Wav {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(wav_error)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_error)?
        }
    };
    Ok(Opened::new(
        InputInfo {
            name: path.display().to_string(),
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            sample_format: format!("wav {} bit", spec.bits_per_sample),
        },
        move |writer| {
            Running::wav_thread("vivavoce-wav-in", move |stop| {
                wav_clock(samples, spec, writer, &shared, stop)
            })
        },
    ))
}

/// Delivers the file 10 ms at a time at the pace of a microphone.
fn wav_clock(
    samples: Vec<f32>,
    spec: hound::WavSpec,
    mut writer: Writer,
    shared: &InputShared,
    stop: &AtomicBool,
) {
    let channels = usize::from(spec.channels.max(1));
    let period = (spec.sample_rate as usize / 100).max(1) * channels;
    let step = Duration::from_millis(10);
    let mut next = Instant::now();
    for chunk in samples.chunks(period) {
        if stop.load(Ordering::Acquire) {
            return;
        }
        writer.write(chunk, Duration::ZERO);
        next += step;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    shared.ended.store(true, Ordering::Release);
}
