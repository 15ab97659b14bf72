//! Audio devices: listing, choosing by name, and picking a stream configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{SampleFormat, SupportedStreamConfig};

use crate::Error;

/// An audio device, as [`devices`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// The name to choose it by (the platform's device id, e.g. ALSA's `default` or
    /// `pipewire`).
    pub name: String,
    /// A human description, when the platform gives one.
    pub description: String,
    /// Whether it can play.
    pub output: bool,
    /// Whether it can record.
    pub input: bool,
    /// Whether it is the system's default output.
    pub default_output: bool,
    /// Whether it is the system's default input.
    pub default_input: bool,
    /// How it plays, when it could be asked.
    pub output_format: Option<DeviceFormat>,
    /// How it records, when it could be asked.
    pub input_format: Option<DeviceFormat>,
}

/// What a device opens with by default, and the range it supports (from [`devices`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceFormat {
    /// The default sample rate (Hz).
    pub sample_rate: u32,
    /// The default channel count.
    pub channels: u16,
    /// The lowest rate it supports (Hz).
    pub min_rate: u32,
    /// The highest rate it supports (Hz).
    pub max_rate: u32,
    /// The most channels it supports.
    pub max_channels: u16,
}

/// Lists the audio devices of the default host, with the defaults marked and what each
/// opens with. It asks each device for its formats, which can take a moment (ALSA opens
/// each one): call it off async threads.
///
/// ```no_run
/// for d in vivavoce::audio::devices()? {
///     let rate = d.output_format.map_or(0, |f| f.sample_rate);
///     println!("{} ({}){} {rate} Hz", d.name, d.description, if d.default_output { " default" } else { "" });
/// }
/// # Ok::<(), vivavoce::Error>(())
/// ```
///
/// # Errors
/// [`Error::AudioDevice`] when the host cannot list its devices.
pub fn devices() -> Result<Vec<DeviceInfo>, Error> {
    let host = cpal::default_host();
    let list = host
        .devices()
        .map_err(|e| device_error("(listing devices)", &e))?;
    let id = |d: Option<cpal::Device>| d.map(|d| info(&d).name);
    let default_output = id(host.default_output_device());
    let default_input = id(host.default_input_device());
    Ok(list
        .map(|d| {
            let mut i = info(&d);
            i.default_output = default_output.as_deref() == Some(i.name.as_str());
            i.default_input = default_input.as_deref() == Some(i.name.as_str());
            if i.output {
                i.output_format = format(&d, Direction::Output);
            }
            if i.input {
                i.input_format = format(&d, Direction::Input);
            }
            i
        })
        .collect())
}

/// The device's default configuration and supported range one way, if it answers.
fn format(d: &cpal::Device, direction: Direction) -> Option<DeviceFormat> {
    let default = match direction {
        Direction::Output => d.default_output_config(),
        Direction::Input => d.default_input_config(),
    }
    .ok()?;
    let ranges: Vec<_> = match direction {
        Direction::Output => d.supported_output_configs().map(|r| r.collect()),
        Direction::Input => d.supported_input_configs().map(|r| r.collect()),
    }
    .unwrap_or_default();
    let rate = default.sample_rate();
    Some(DeviceFormat {
        sample_rate: rate,
        channels: default.channels(),
        min_rate: ranges
            .iter()
            .map(|r| r.min_sample_rate())
            .min()
            .unwrap_or(rate),
        max_rate: ranges
            .iter()
            .map(|r| r.max_sample_rate())
            .max()
            .unwrap_or(rate),
        max_channels: ranges
            .iter()
            .map(|r| r.channels())
            .max()
            .unwrap_or(default.channels()),
    })
}

fn info(d: &cpal::Device) -> DeviceInfo {
    let name = d.id().map(|id| id.id().to_owned()).unwrap_or_default();
    let desc = d.description().ok();
    DeviceInfo {
        description: desc
            .as_ref()
            .map(|x| x.name().to_owned())
            .unwrap_or_else(|| name.clone()),
        name,
        output: d.supports_output() || desc.as_ref().is_some_and(|x| x.supports_output()),
        input: d.supports_input() || desc.as_ref().is_some_and(|x| x.supports_input()),
        default_output: false,
        default_input: false,
        output_format: None,
        input_format: None,
    }
}

/// Which way a device is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Output,
    Input,
}

impl Direction {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Direction::Output => "output",
            Direction::Input => "input",
        }
    }
}

/// [`find`] and [`pick_config`] together: the device, its name and the configuration to
/// open it with. A default device that cannot be configured counts as no device.
pub(crate) fn find_configured(
    direction: Direction,
    wanted: Option<&str>,
    rate: Option<u32>,
) -> Result<(cpal::Device, String, SupportedStreamConfig), Error> {
    let (dev, name) = find(direction, wanted)?;
    let config = pick_config(&dev, &name, direction, rate).map_err(|e| match e {
        Error::AudioDevice { .. } if wanted.is_none() => Error::NoAudioDevice {
            direction: direction.word(),
            name: None,
        },
        e => e,
    })?;
    Ok((dev, name, config))
}

/// The default device, or the one whose name or description matches `name` (exactly,
/// else case-insensitively as a substring).
pub(crate) fn find(
    direction: Direction,
    name: Option<&str>,
) -> Result<(cpal::Device, String), Error> {
    let host = cpal::default_host();
    let missing = || Error::NoAudioDevice {
        direction: direction.word(),
        name: name.map(str::to_owned),
    };
    let Some(wanted) = name else {
        let d = match direction {
            Direction::Output => host.default_output_device(),
            Direction::Input => host.default_input_device(),
        }
        .ok_or_else(missing)?;
        let n = info(&d).name;
        return Ok((d, n));
    };
    let all: Vec<cpal::Device> = host.devices().map_err(|_| missing())?.collect();
    let infos: Vec<DeviceInfo> = all.iter().map(info).collect();
    let lower = wanted.to_lowercase();
    let pick = infos
        .iter()
        .position(|i| i.name == wanted || i.description == wanted)
        .or_else(|| {
            infos.iter().position(|i| {
                i.name.to_lowercase().contains(&lower)
                    || i.description.to_lowercase().contains(&lower)
            })
        })
        .ok_or_else(missing)?;
    let n = infos[pick].name.clone();
    Ok((
        all.into_iter().nth(pick).expect("index from the same list"),
        n,
    ))
}

/// `$build::<T>(args…)` with `T` the sample type of cpal's `$format` (one of [`FORMATS`]);
/// `Err(Error::AudioDevice)` naming `$device` for any other format.
macro_rules! with_sample_type {
    ($format:expr, $device:expr, $build:ident($($arg:expr),* $(,)?)) => {{
        use cpal::SampleFormat as F;
        match $format {
            F::F32 => Ok($build::<f32>($($arg),*)),
            F::I16 => Ok($build::<i16>($($arg),*)),
            F::I32 => Ok($build::<i32>($($arg),*)),
            F::U16 => Ok($build::<u16>($($arg),*)),
            F::F64 => Ok($build::<f64>($($arg),*)),
            F::I8 => Ok($build::<i8>($($arg),*)),
            F::U8 => Ok($build::<u8>($($arg),*)),
            F::U32 => Ok($build::<u32>($($arg),*)),
            other => Err($crate::Error::AudioDevice {
                device: ($device).to_owned(),
                message: format!("unsupported sample format {other}"),
            }),
        }
    }};
}
pub(crate) use with_sample_type;

/// Formats the callback can read and write.
const FORMATS: [SampleFormat; 8] = [
    SampleFormat::F32,
    SampleFormat::I16,
    SampleFormat::I32,
    SampleFormat::U16,
    SampleFormat::F64,
    SampleFormat::I8,
    SampleFormat::U8,
    SampleFormat::U32,
];

/// The device's default configuration, moved to `rate` if one is asked for; falls back to
/// the first supported range holding that rate in a format we can write.
pub(crate) fn pick_config(
    device: &cpal::Device,
    name: &str,
    direction: Direction,
    rate: Option<u32>,
) -> Result<SupportedStreamConfig, Error> {
    let default = match direction {
        Direction::Output => device.default_output_config(),
        Direction::Input => device.default_input_config(),
    }
    .map_err(|e| device_error(name, &e))?;
    let usable = |f: SampleFormat| FORMATS.contains(&f);
    if usable(default.sample_format()) && rate.is_none_or(|r| r == default.sample_rate()) {
        return Ok(default);
    }
    let ranges: Vec<_> = match direction {
        Direction::Output => device.supported_output_configs().map(|r| r.collect()),
        Direction::Input => device.supported_input_configs().map(|r| r.collect()),
    }
    .map_err(|e| device_error(name, &e))?;
    let want = rate.unwrap_or(default.sample_rate());
    ranges
        .into_iter()
        .filter(|r| usable(r.sample_format()))
        .min_by_key(|r| {
            (
                r.channels() != default.channels(),
                FORMATS.iter().position(|f| *f == r.sample_format()),
            )
        })
        .and_then(|r| {
            r.try_with_sample_rate(want)
                .or_else(|| rate.is_none().then(|| r.with_max_sample_rate()))
        })
        .ok_or_else(|| Error::AudioDevice {
            device: name.to_owned(),
            message: format!(
                "no supported {} configuration at {want} Hz in f32, i16, i32, u16 or another PCM format",
                direction.word()
            ),
        })
}

/// The output period playback starts with by default, in ms: the smallest the device
/// accepts, but not below this. A callback takes a whole period at once, so playback
/// holds one back at the start of every reply: 5 ms instead of 10 answers about 5 ms
/// sooner. The callback threads are cpal's and not real-time, so a starved machine can
/// make the device run dry at this size; if it keeps doing so, playback reopens the
/// output with twice the period, up to [`FALLBACK_MAX_PERIOD_MS`] (see `playback::period`).
pub(crate) const MIN_PERIOD_MS: u32 = 5;

/// The longest period the fallback after device underruns grows to, in ms.
pub(crate) const FALLBACK_MAX_PERIOD_MS: u32 = 20;

/// The device period to ask for when none is given: the smallest the device accepts, but
/// not below `min_ms`; `None` (the device's own choice) when it does not say.
pub(crate) fn short_period(config: &SupportedStreamConfig, min_ms: u32) -> Option<u32> {
    match *config.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } if min <= max => {
            let floor = config.sample_rate() * min_ms / 1000;
            Some(floor.clamp(min.max(1), max))
        }
        _ => None,
    }
}

/// The stream configuration to open with: `frames` per period if asked for, else
/// [`short_period`] of `min_ms` (which lies inside the range the device reports, so it
/// accepts it).
pub(crate) fn stream_config(
    supported: &SupportedStreamConfig,
    frames: Option<u32>,
    min_ms: u32,
) -> cpal::StreamConfig {
    let mut config = supported.config();
    if let Some(n) = frames.or_else(|| short_period(supported, min_ms)) {
        config.buffer_size = cpal::BufferSize::Fixed(n);
    }
    config
}

/// A cpal error as ours: an absent device or host is [`Error::NoAudioDevice`].
pub(crate) fn device_error(device: &str, e: &cpal::Error) -> Error {
    Error::AudioDevice {
        device: device.to_owned(),
        message: e.to_string(),
    }
}

/// Like [`device_error`], but an unreachable device or audio server says what to do.
pub(crate) fn open_error(
    direction: Direction,
    name: Option<&str>,
    device: &str,
    e: &cpal::Error,
) -> Error {
    match e.kind() {
        cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::HostUnavailable => {
            Error::NoAudioDevice {
                direction: direction.word(),
                name: name.map(str::to_owned),
            }
        }
        _ => device_error(device, e),
    }
}

/// A device or WAV file found and configured, not yet started: [`start`](Self::start)
/// builds the stream around the callback's half `C` (the renderer, or the ring writer).
pub(crate) struct Opened<I, C> {
    pub info: I,
    start: Box<dyn FnOnce(C) -> Result<Running, Error> + Send>,
}

impl<I, C> Opened<I, C> {
    pub(crate) fn new(
        info: I,
        start: impl FnOnce(C) -> Result<Running, Error> + Send + 'static,
    ) -> Self {
        Opened {
            info,
            start: Box::new(start),
        }
    }

    pub(crate) fn start(self, callback_half: C) -> Result<Running, Error> {
        (self.start)(callback_half)
    }
}

/// A running stream. Dropping it stops the device, or tells the thread that clocks a WAV
/// file in a device's place to stop, and joins it.
pub(crate) enum Running {
    Device(#[allow(dead_code)] cpal::Stream),
    Wav {
        thread: Option<JoinHandle<()>>,
        stop: Arc<AtomicBool>,
    },
}

impl Running {
    /// Starts a stream cpal has built (or says why it could not build or start it).
    pub(crate) fn play(
        built: Result<cpal::Stream, cpal::Error>,
        direction: Direction,
        wanted: Option<&str>,
        name: &str,
    ) -> Result<Running, Error> {
        use cpal::traits::StreamTrait;
        let stream = built.map_err(|e| open_error(direction, wanted, name, &e))?;
        stream
            .play()
            .map_err(|e| open_error(direction, wanted, name, &e))?;
        Ok(Running::Device(stream))
    }

    /// Runs `clock` on a thread named `name`, standing in for a device; it returns once
    /// the flag it is given is raised (or the file ends).
    pub(crate) fn wav_thread(
        name: &str,
        clock: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<Running, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = spawn(name, "wav", move || clock(&flag))?;
        Ok(Running::Wav {
            thread: Some(thread),
            stop,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Wav { thread, stop } = self {
            stop.store(true, Ordering::Release);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Starts one of the audio threads, named `name`; a failure is an error about `device`.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    device: &str,
    run: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(|e| Error::AudioDevice {
            device: device.into(),
            message: format!("could not start the {name} thread: {e}"),
        })
}

/// Waits for an audio thread that was told to stop, without blocking an async thread:
/// inside a tokio runtime on its blocking pool (a runtime shutting down waits for it, so a
/// WAV file is completed before the program ends), elsewhere right here.
pub(crate) fn finish_off_thread(join: std::thread::JoinHandle<()>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || {
            let _ = join.join();
        })),
        Err(_) => {
            let _ = join.join();
        }
    }
}
