//! `talk --record DIR`: the session's events both ways (`events.jsonl`), what the
//! microphone sent (`mic.wav`) and what the speaker played (`speaker.wav`).
//!
//! The hooks and the audio processor only hand copies to a writer thread over a channel
//! (they run on the connection's task and the capture thread, which must not wait on a
//! disk); the thread formats and writes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use vivavoce::Error;
use vivavoce::audio::{AudioProcessor, FRAME, Processing, RATE};
use vivavoce::realtime::events::RawJson;
use vivavoce::realtime::{ClientEvent, ConnectOptions, ServerEvent};

use crate::exit::Failure;

enum Msg {
    /// A client event sent, at this many ms.
    Out(u64, Box<ClientEvent>),
    /// A server event received; `true` when it may not be JSON (a malformed event).
    In(u64, RawJson, bool),
    /// 10 ms of what the speaker played.
    Speaker(Box<[i16; FRAME]>),
    Finish,
}

/// A running recording: see the [module docs](self).
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    start: Instant,
    dir: PathBuf,
    thread: Option<JoinHandle<Result<(), String>>>,
}

type Wav = hound::WavWriter<BufWriter<File>>;

fn wav(path: &Path) -> Result<Wav, Failure> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec)
        .map_err(|e| Failure::io(format!("{}: {e}", path.display())))
}

impl Recorder {
    /// Creates `dir` (if needed) and its three files.
    pub fn create(dir: &Path) -> Result<Recorder, Failure> {
        std::fs::create_dir_all(dir).map_err(|e| Failure::io(format!("{}: {e}", dir.display())))?;
        let events_path = dir.join("events.jsonl");
        let events = File::create(&events_path)
            .map_err(|e| Failure::io(format!("{}: {e}", events_path.display())))?;
        let mic = wav(&dir.join("mic.wav"))?;
        let speaker = wav(&dir.join("speaker.wav"))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vivavoce-record".into())
            .spawn(move || write_all(&rx, BufWriter::new(events), mic, speaker))
            .map_err(|e| Failure::io(format!("cannot start the recording thread: {e}")))?;
        Ok(Recorder {
            tx,
            start: Instant::now(),
            dir: dir.to_owned(),
            thread: Some(thread),
        })
    }

    /// Adds the hooks that copy every event, both ways, to the recording.
    pub fn hooks(&self, options: ConnectOptions) -> ConnectOptions {
        let (out, start) = (self.tx.clone(), self.start);
        let inc = self.tx.clone();
        options
            .on_outgoing(move |event| {
                let ms = start.elapsed().as_millis() as u64;
                let _ = out.send(Msg::Out(ms, Box::new(event.clone())));
                Some(event)
            })
            .on_incoming(move |event| {
                // Local events (a lost connection, say) are not the server's: not recorded.
                if let Some(raw) = event.raw() {
                    let ms = start.elapsed().as_millis() as u64;
                    let malformed = matches!(event, ServerEvent::Malformed { .. });
                    let _ = inc.send(Msg::In(ms, raw.clone(), malformed));
                }
                Some(event)
            })
    }

    /// `inner`, with what the speaker played (its far end) copied to `speaker.wav`.
    pub fn processor(&self, inner: Box<dyn AudioProcessor>) -> Processing {
        Processing::Custom(Box::new(Tap {
            inner,
            tx: self.tx.clone(),
        }))
    }

    /// Writes what is left and closes the files.
    pub async fn finish(mut self) -> Result<PathBuf, Failure> {
        let _ = self.tx.send(Msg::Finish);
        let written = match self.thread.take() {
            Some(t) => tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| e.to_string())
                .and_then(|joined| joined.map_err(|_| "the recording thread failed".to_owned()))
                .and_then(|r| r),
            None => Ok(()),
        };
        written
            .map(|()| self.dir.clone())
            .map_err(|e| Failure::io(format!("recording to {}: {e}", self.dir.display())))
    }
}

/// The writer thread: until `Finish`, or until every sender is gone.
fn write_all(
    rx: &mpsc::Receiver<Msg>,
    mut events: BufWriter<File>,
    mut mic: Wav,
    mut speaker: Wav,
) -> Result<(), String> {
    let mut failed: Option<String> = None;
    while let Ok(msg) = rx.recv() {
        let r = match msg {
            Msg::Finish => break,
            _ if failed.is_some() => Ok(()),
            Msg::Out(ms, event) => write_out(&mut events, &mut mic, ms, &event),
            Msg::In(ms, raw, malformed) => write_in(&mut events, ms, &raw, malformed),
            Msg::Speaker(frame) => frame
                .iter()
                .try_for_each(|&s| speaker.write_sample(s))
                .map_err(|e| format!("speaker.wav: {e}")),
        };
        if let Err(e) = r {
            failed = Some(e);
        }
    }
    let closed = events
        .flush()
        .map_err(|e| format!("events.jsonl: {e}"))
        .and(mic.finalize().map_err(|e| format!("mic.wav: {e}")))
        .and(speaker.finalize().map_err(|e| format!("speaker.wav: {e}")));
    match failed {
        Some(e) => Err(e),
        None => closed,
    }
}

fn write_out(
    events: &mut impl Write,
    mic: &mut Wav,
    ms: u64,
    event: &ClientEvent,
) -> Result<(), String> {
    let json = serde_json::to_string(event).map_err(|e| format!("an outgoing event: {e}"))?;
    writeln!(events, r#"{{"ms":{ms},"direction":"out","event":{json}}}"#)
        .map_err(|e| format!("events.jsonl: {e}"))?;
    if let ClientEvent::InputAudioBufferAppend(append) = event {
        // The session's input is 24 kHz PCM16, as capture sends it.
        let bytes = base64_simd::STANDARD
            .decode_to_vec(append.audio.as_bytes())
            .map_err(|e| format!("an appended chunk of audio: {e}"))?;
        for pair in bytes.chunks_exact(2) {
            mic.write_sample(i16::from_le_bytes([pair[0], pair[1]]))
                .map_err(|e| format!("mic.wav: {e}"))?;
        }
    }
    Ok(())
}

fn write_in(
    events: &mut impl Write,
    ms: u64,
    raw: &RawJson,
    malformed: bool,
) -> Result<(), String> {
    let text = raw.as_str();
    // Newlines outside strings are only whitespace in JSON (inside strings they are
    // escaped), so a pretty-printed event still fits on one line.
    let one_line = text.replace(['\n', '\r'], " ");
    let event = if malformed && serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        // Not JSON at all: kept as a string, which validate reports.
        serde_json::to_string(text).map_err(|e| e.to_string())?
    } else {
        one_line
    };
    writeln!(events, r#"{{"ms":{ms},"direction":"in","event":{event}}}"#)
        .map_err(|e| format!("events.jsonl: {e}"))
}

/// An audio processor that copies the far end (what the speaker played) to the
/// recording and hands everything on to the real one.
struct Tap {
    inner: Box<dyn AudioProcessor>,
    tx: mpsc::Sender<Msg>,
}

impl AudioProcessor for Tap {
    fn render(&mut self, far: &[f32]) -> Result<(), Error> {
        let mut frame = Box::new([0i16; FRAME]);
        for (o, &s) in frame.iter_mut().zip(far) {
            *o = (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        let _ = self.tx.send(Msg::Speaker(frame));
        self.inner.render(far)
    }

    fn capture(&mut self, near: &mut [f32]) -> Result<(), Error> {
        self.inner.capture(near)
    }

    fn set_delay_ms(&mut self, ms: u32) {
        self.inner.set_delay_ms(ms);
    }

    fn far_end_skipped(&mut self) {
        self.inner.far_end_skipped();
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
