//! Where playback goes: a cpal output device, or a real-time clocked WAV file.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SizedSample};

use super::callback::{Renderer, Shared};
use super::gaps::GapWatch;
use crate::Error;
use crate::audio::device::{self, Direction, Running};

/// Where [`Playback`](crate::audio::Playback) plays to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputTarget {
    /// The system's default output device.
    #[default]
    Default,
    /// The device whose name or description matches (see [`devices`](crate::audio::devices)).
    Device(String),
    /// A WAV file (16-bit PCM), written in real time as a device would play it: for tests
    /// and machines without a sound card.
    Wav {
        /// The file to create.
        path: PathBuf,
        /// Its sample rate.
        sample_rate: u32,
        /// Its channel count.
        channels: u16,
    },
}

impl OutputTarget {
    /// A WAV file at 48 kHz stereo.
    pub fn wav(path: impl Into<PathBuf>) -> Self {
        OutputTarget::Wav {
            path: path.into(),
            sample_rate: 48_000,
            channels: 2,
        }
    }
}

/// What the output was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputInfo {
    /// The device's name (or the WAV file's path).
    pub name: String,
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels per frame.
    pub channels: u16,
    /// The sample format written (`"f32"`, `"i16"`, …).
    pub sample_format: String,
}

/// Found and configured, not started: the rate and channels decide how the feeder
/// converts; `start` builds the stream around a renderer.
pub(crate) type Opened = device::Opened<OutputInfo, Renderer>;

/// Finds and configures the output; [`Opened::start`] builds the stream around a renderer.
/// Without `buffer_frames` a device's period is the shortest it accepts of at least
/// `min_period_ms`. A device also comes back as a [`Device`], to start again with another
/// period.
pub(crate) fn open(
    target: &OutputTarget,
    rate: Option<u32>,
    (buffer_frames, min_period_ms): (Option<u32>, u32),
    shared: Arc<Shared>,
    home: SyncSender<Renderer>,
) -> Result<(Opened, Option<Device>), Error> {
    match target {
        OutputTarget::Wav {
            path,
            sample_rate,
            channels,
        } => {
            let spec = hound::WavSpec {
                channels: *channels,
                sample_rate: *sample_rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let wav_error = |e: hound::Error| Error::Wav {
                path: path.clone(),
                message: e.to_string(),
            };
            let writer = hound::WavWriter::create(path, spec).map_err(wav_error)?;
            let period = buffer_frames.unwrap_or(sample_rate / 100).max(1) as usize;
            let path = path.clone();
            let opened = Opened::new(
                OutputInfo {
                    name: path.display().to_string(),
                    sample_rate: *sample_rate,
                    channels: *channels,
                    sample_format: "i16".into(),
                },
                move |renderer| {
                    Running::wav_thread("vivavoce-wav-out", move |stop| {
                        if let Err(error) = wav_clock(writer, renderer, period, spec, stop, &path) {
                            // Not silent: playback sees a lost device (drain and interrupts
                            // fail) and the log says why.
                            tracing::warn!(%error, "writing the playback WAV file failed");
                            shared.device_lost.store(true, Ordering::Release);
                        }
                    })
                },
            );
            Ok((opened, None))
        }
        OutputTarget::Default | OutputTarget::Device(_) => {
            let wanted = match target {
                OutputTarget::Device(n) => Some(n.as_str()),
                _ => None,
            };
            let (dev, name, supported) = device::find_configured(Direction::Output, wanted, rate)?;
            let device = Device {
                dev,
                name,
                wanted: wanted.map(str::to_owned),
                supported,
                shared,
                home,
            };
            let config = device::stream_config(&device.supported, buffer_frames, min_period_ms);
            let info = OutputInfo {
                name: device.name.clone(),
                sample_rate: config.sample_rate,
                channels: config.channels,
                sample_format: device.supported.sample_format().to_string(),
            };
            let again = device.clone();
            let opened = Opened::new(info, move |renderer| device.start(renderer, config));
            Ok((opened, Some(again)))
        }
    }
}

/// An output device found and configured, that starts streams around a renderer. The
/// renderer goes back home when a stream lets go of it (the stream is dropped, or could
/// not be built), so that the output can start again around it.
#[derive(Clone)]
pub(crate) struct Device {
    dev: cpal::Device,
    name: String,
    wanted: Option<String>,
    supported: cpal::SupportedStreamConfig,
    shared: Arc<Shared>,
    home: SyncSender<Renderer>,
}

impl Device {
    /// The configuration for a period of at least `min_period_ms` (as short as the device
    /// accepts).
    pub(crate) fn config(&self, min_period_ms: u32) -> cpal::StreamConfig {
        device::stream_config(&self.supported, None, min_period_ms)
    }

    /// Builds and starts a stream with `config` around `renderer`.
    pub(crate) fn start(
        &self,
        renderer: Renderer,
        config: cpal::StreamConfig,
    ) -> Result<Running, Error> {
        self.build(Homing::new(Some(renderer), None, self.home.clone()), config)
    }

    /// Builds and starts a stream with `config` that plays silence until a renderer is
    /// pushed into [`Standby::slot`]: started ahead, while another stream still has the
    /// renderer, so that the audio server has linked it by the time it takes over.
    pub(crate) fn standby(&self, config: cpal::StreamConfig) -> Result<Standby, Error> {
        let (slot, inbox) = rtrb::RingBuffer::new(1);
        let homing = Homing::new(None, Some(inbox), self.home.clone());
        let frames = homing.frames.clone();
        let rate = config.sample_rate;
        let running = self.build(homing, config)?;
        Ok(Standby {
            running,
            slot,
            frames,
            rate,
        })
    }

    fn build(&self, homing: Homing, config: cpal::StreamConfig) -> Result<Running, Error> {
        let shared = self.shared.clone();
        let built = device::with_sample_type!(
            self.supported.sample_format(),
            &self.name,
            build(&self.dev, config, homing, shared)
        )?;
        Running::play(built, Direction::Output, self.wanted.as_deref(), &self.name)
    }
}

/// A stream started without a renderer (see [`Device::standby`]).
pub(crate) struct Standby {
    pub running: Running,
    /// Where its renderer goes (room for one).
    pub slot: rtrb::Producer<Renderer>,
    /// Frames its callback has played while waiting for the renderer.
    frames: Arc<AtomicU64>,
    rate: u32,
}

impl Standby {
    /// Whether the audio server runs it: it has played more silence than a device buffer
    /// holds before anything takes it (0.2 s), so it is taken as fast as it is played.
    pub(crate) fn running(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= u64::from(self.rate) / 5
    }
}

/// The renderer inside a device callback; it goes home when cpal drops the callback. A
/// stream on standby starts without one and takes it from `inbox` when it comes.
struct Homing {
    renderer: Option<Renderer>,
    inbox: Option<rtrb::Consumer<Renderer>>,
    /// Frames played while waiting for the renderer.
    frames: Arc<AtomicU64>,
    home: SyncSender<Renderer>,
}

impl Homing {
    fn new(
        renderer: Option<Renderer>,
        inbox: Option<rtrb::Consumer<Renderer>>,
        home: SyncSender<Renderer>,
    ) -> Self {
        Homing {
            renderer,
            inbox,
            frames: Arc::new(AtomicU64::new(0)),
            home,
        }
    }

    /// The renderer, if it has come (no allocation, no lock: the callback calls this).
    fn renderer(&mut self) -> Option<&mut Renderer> {
        if self.renderer.is_none() {
            self.renderer = self.inbox.as_mut().and_then(|i| i.pop().ok());
        }
        self.renderer.as_mut()
    }
}

impl Drop for Homing {
    fn drop(&mut self) {
        let waiting = self.inbox.as_mut().and_then(|i| i.pop().ok());
        if let Some(r) = self.renderer.take().or(waiting) {
            // The channel has room for the one renderer; nobody waiting is fine too.
            let _ = self.home.try_send(r);
        }
    }
}

fn build<T: SizedSample + FromSample<f32>>(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    mut renderer: Homing,
    shared: Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error> {
    let channels = usize::from(config.channels.max(1));
    let mut gaps = GapWatch::new(config.sample_rate);
    let mut origin: Option<cpal::StreamInstant> = None;
    let watched = shared.clone();
    dev.build_output_stream(
        config,
        move |out: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            let latency = ts.playback.saturating_duration_since(ts.callback);
            let origin = *origin.get_or_insert(ts.playback);
            let played_ns = match ts.playback.checked_duration_since(origin) {
                Some(d) => d.as_nanos() as i64,
                None => -(origin.saturating_duration_since(ts.playback).as_nanos() as i64),
            };
            if let Some(ns) = gaps.note(played_ns, (out.len() / channels) as u64) {
                watched.device_gaps.fetch_add(1, Ordering::Relaxed);
                watched.device_gap_ns.fetch_add(ns, Ordering::Relaxed);
            }
            match renderer.renderer() {
                Some(r) => r.render(out, latency),
                None => {
                    out.fill(T::EQUILIBRIUM);
                    let frames = (out.len() / channels) as u64;
                    renderer.frames.fetch_add(frames, Ordering::Relaxed);
                }
            }
        },
        move |e: cpal::Error| {
            // The error callback is not the audio callback: logging is fine here.
            match e.kind() {
                cpal::ErrorKind::Xrun => {
                    shared.xruns.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "audio output");
                }
                cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {
                    tracing::debug!(error = %e, "audio output");
                }
                _ => {
                    tracing::warn!(error = %e, "audio output stream failed");
                    shared.device_lost.store(true, Ordering::Release);
                }
            }
        },
        Some(Duration::from_secs(5)),
    )
}

/// Plays into a WAV file at the pace of a device: one period per period of wall time.
fn wav_clock(
    mut writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    mut renderer: Renderer,
    period: usize,
    spec: hound::WavSpec,
    stop: &AtomicBool,
    path: &std::path::Path,
) -> Result<(), Error> {
    let mut buf = vec![0i16; period * spec.channels as usize];
    let step = Duration::from_nanos(period as u64 * 1_000_000_000 / u64::from(spec.sample_rate));
    let mut next = Instant::now();
    let wav_error = |e: hound::Error| Error::Wav {
        path: path.to_owned(),
        message: e.to_string(),
    };
    while !stop.load(Ordering::Acquire) {
        renderer.render(&mut buf, Duration::ZERO);
        for &x in &buf {
            writer.write_sample(x).map_err(wav_error)?;
        }
        next += step;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > step * 10 {
            next = now; // fell far behind (suspended): do not burst
        }
    }
    writer.finalize().map_err(wav_error)
}
