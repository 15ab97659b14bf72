//! Where `talk` and `ptt` hear and speak: devices by default, WAV files on request.

use std::path::PathBuf;

use clap::Args;
use vivavoce::audio::{
    Capture, CaptureOptions, InputSource, OutputTarget, Playback, PlaybackOptions, capture_audio,
};
use vivavoce::realtime::EventSender;

use crate::exit::Failure;

/// The audio flags of `talk` and `ptt`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Audio")]
pub struct AudioArgs {
    /// Capture from this WAV file (any rate and channels), played in real time, instead of
    /// the microphone; the session ends once it has been answered.
    #[arg(long, value_name = "FILE.wav", conflicts_with = "input_device")]
    pub input: Option<PathBuf>,
    /// Play to this WAV file (24 kHz mono 16-bit, written in real time) instead of the
    /// speakers.
    #[arg(long, value_name = "FILE.wav", conflicts_with = "output_device")]
    pub output: Option<PathBuf>,
    /// The microphone (a name or part of one from `vivavoce devices`).
    #[arg(long, value_name = "NAME")]
    pub input_device: Option<String>,
    /// The speakers (a name or part of one from `vivavoce devices`).
    #[arg(long, value_name = "NAME")]
    pub output_device: Option<String>,
}

impl AudioArgs {
    fn target(&self) -> OutputTarget {
        match (&self.output, &self.output_device) {
            (Some(path), _) => OutputTarget::Wav {
                path: path.clone(),
                sample_rate: vivavoce::audio::RATE,
                channels: 1,
            },
            (None, Some(name)) => OutputTarget::Device(name.clone()),
            (None, None) => OutputTarget::Default,
        }
    }

    /// The input to capture from.
    pub fn source(&self) -> InputSource {
        match (&self.input, &self.input_device) {
            (Some(path), _) => InputSource::Wav(path.clone()),
            (None, Some(name)) => InputSource::Device(name.clone()),
            (None, None) => InputSource::Default,
        }
    }

    /// Whether capture comes from a file (which ends).
    pub fn reads_a_file(&self) -> bool {
        self.input.is_some()
    }

    /// Opens the output, with barge-in through `tx`.
    pub async fn open_playback(&self, tx: &EventSender) -> Result<Playback, Failure> {
        let what = match &self.output {
            Some(p) => format!("opening {}", p.display()),
            None => "opening the speakers".to_owned(),
        };
        Playback::open(PlaybackOptions::new(tx.clone()).target(self.target()))
            .await
            .map_err(|e| Failure::from_error(&what, &e))
    }

    /// Starts capture with `options` (its source set from the flags).
    pub async fn start_capture(
        &self,
        tx: &EventSender,
        options: CaptureOptions,
    ) -> Result<Capture, Failure> {
        let what = match &self.input {
            Some(p) => format!("reading {}", p.display()),
            None => "opening the microphone".to_owned(),
        };
        capture_audio(tx.clone(), options.source(self.source()))
            .await
            .map_err(|e| Failure::from_error(&what, &e))
    }
}
