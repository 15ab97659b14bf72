//! The headless audio rig (scripts/audio-rig.sh) as the audio tests use it: recording
//! what a sink played, and comparing signals.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static DEVICE: Mutex<()> = Mutex::new(());

/// Checks the rig is up and takes the (one, shared) set of devices for this test.
pub fn rig() -> MutexGuard<'static, ()> {
    let dir = std::env::var("VIVAVOCE_AUDIO_RIG").unwrap_or_default();
    assert!(
        !dir.is_empty() && Path::new(&dir).join("runtime/pipewire-0").exists(),
        "the audio tests play through a headless PipeWire: run them as \
         `scripts/audio-rig.sh run cargo test` (needs Debian's pipewire pipewire-bin \
         pipewire-alsa wireplumber dbus)"
    );
    DEVICE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the same lock without needing the rig: for tests that only use CPU, so they do
/// not compete with the real-time ones.
pub fn serial() -> MutexGuard<'static, ()> {
    DEVICE.lock().unwrap_or_else(|e| e.into_inner())
}

/// SNR per `window` samples, each window aligned on its own within `search` of `guess`:
/// robust to a recorder that drops a buffer somewhere, strict about the audio itself.
pub fn windowed_snr(
    recorded: &[f32],
    expected: &[f32],
    guess: usize,
    window: usize,
    search: usize,
) -> Vec<f64> {
    expected
        .chunks_exact(window)
        .enumerate()
        .filter(|(_, w)| rms(w) > 0.01)
        .map(|(i, w)| align(recorded, w, guess + i * window, search).1)
        .collect()
}

/// Spawns one of the rig's audio helpers (`pw-record`, `pw-play`, `pw-loopback`). They
/// stand in for hardware, which a busy CPU cannot starve, so their audio threads run
/// with real-time scheduling where that is allowed (as root in CI), as
/// `scripts/audio-rig.sh` runs its own; their main threads (start-up, the audio server's
/// registry) stay normal, so they cannot hold a core from any audio thread (the script
/// says what that did).
pub fn spawn_helper(cmd: &mut Command) -> Child {
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} (Debian package pipewire-bin): {e}"));
    let pid = child.id();
    std::thread::spawn(move || promote_audio_threads(pid));
    child
}

/// For 2 s (the helper connects and starts its streams), makes every thread of process
/// `pid` but the main one `SCHED_FIFO` 80. Refused without the privilege: then nothing.
fn promote_audio_threads(pid: u32) {
    let mut done = std::collections::HashSet::new();
    for _ in 0..40 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        for entry in tasks.flatten() {
            let tid = entry
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok());
            if let Some(tid) = tid.filter(|&t| t != pid && done.insert(t)) {
                let param = libc::sched_param { sched_priority: 80 };
                // SAFETY: a plain system call with valid arguments.
                unsafe { libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_FIFO, &param) };
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vivavoce-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Records a sink's monitor (what was played into it) to a mono 16-bit WAV.
pub struct Recorder {
    child: Child,
    path: PathBuf,
    rate: u32,
}

impl Recorder {
    pub async fn start(sink: &str, rate: u32) -> Recorder {
        let path = temp(&format!("{sink}-{}.wav", fastrand::u64(..)));
        let child = spawn_helper(
            Command::new("pw-record")
                .args(["-P", "{ stream.capture.sink=true }", "--target", sink])
                .args([
                    "--rate",
                    &rate.to_string(),
                    "--channels",
                    "1",
                    "--format",
                    "s16",
                ])
                .arg(&path),
        );
        // Let the recording stream connect before anything plays.
        tokio::time::sleep(Duration::from_millis(400)).await;
        Recorder { child, path, rate }
    }

    /// Stops recording and returns the samples as f32.
    pub async fn finish(mut self) -> Vec<f32> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut reader = hound::WavReader::open(&self.path).expect("recording");
        assert_eq!(reader.spec().sample_rate, self.rate);
        let out = reader
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect();
        let _ = std::fs::remove_file(&self.path);
        out
    }
}

pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

/// First index where the 5 ms level passes `threshold`.
pub fn onset(x: &[f32], rate: u32, threshold: f64) -> Option<usize> {
    let w = (rate / 200) as usize;
    (0..x.len().saturating_sub(w))
        .step_by(w / 5)
        .find(|&i| rms(&x[i..i + w]) > threshold)
}

/// The best alignment of `expected` inside `recorded` near `guess`, and the SNR there:
/// `(offset, snr_db)` where the recording is compared to `expected` scaled by the
/// least-squares gain.
pub fn align(recorded: &[f32], expected: &[f32], guess: usize, search: usize) -> (usize, f64) {
    if let Ok(dir) = std::env::var("VIVAVOCE_TEST_DUMP") {
        let dump = |name: &str, x: &[f32]| {
            let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
        };
        dump("recorded.f32", recorded);
        dump("expected.f32", expected);
    }
    let n = expected.len();
    let mut best = (0usize, f64::MIN);
    let lo = guess.saturating_sub(search);
    let hi = (guess + search).min(recorded.len().saturating_sub(n));
    for off in lo..=hi {
        let r = &recorded[off..off + n];
        let dot: f64 = r
            .iter()
            .zip(expected)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        if dot > best.1 {
            best = (off, dot);
        }
    }
    (best.0, snr(&recorded[best.0..best.0 + n], expected))
}

/// SNR of `recorded` against `expected` (after the best gain), in dB.
pub fn snr(recorded: &[f32], expected: &[f32]) -> f64 {
    let e2: f64 = expected.iter().map(|&v| f64::from(v).powi(2)).sum();
    let dot: f64 = recorded
        .iter()
        .zip(expected)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let g = dot / e2.max(1e-12);
    let noise: f64 = recorded
        .iter()
        .zip(expected)
        .map(|(&a, &b)| (f64::from(a) - g * f64::from(b)).powi(2))
        .sum();
    10.0 * (g * g * e2 / noise.max(1e-12)).log10()
}

/// Resamples with rubato directly (independently of the crate's own glue).
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both).unwrap();
    let needed = r.process_all_needed_output_len(x.len());
    let mut out = vec![0.0; needed];
    let input = InterleavedSlice::new(x, 1, x.len()).unwrap();
    let mut output = InterleavedSlice::new_mut(&mut out, 1, needed).unwrap();
    let (_, made) = r
        .process_all_into_buffer(&input, &mut output, x.len(), None)
        .unwrap();
    out.truncate(made);
    out
}

pub fn pcm_to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// `options` with a 20 ms device period (at `rate`), for the tests that compare every
/// sample heard with what was sent. With the default (the smallest the device takes, 5 ms
/// here) a machine whose CPU is taken away for longer than the device's buffer loses
/// audio: on this rig's host, a real-time thread doing nothing else has been seen held
/// off for 4–11 ms every second and up to 37 ms under load, and playback then lost
/// 2.7 ms pieces (whole cycles of the audio graph) 14 times in 3 s, only 3 of them told
/// as device underruns; with 20 ms it lost one piece in 3 of 8 replies, which the
/// per-window comparisons allow. That is the machine, not the content: these tests check
/// the content, and the default period's own behaviour is the soak's and the latency
/// benches' to measure. (The capture echo tests use it too: each loss moves the echo
/// path under the canceller.)
pub fn steady(
    options: vivavoce::audio::PlaybackOptions,
    rate: u32,
) -> vivavoce::audio::PlaybackOptions {
    options.buffer_frames(rate / 50)
}

/// With `VIVAVOCE_RIG_KEEP` set to a directory, writes `samples` there as a WAV named
/// for the test thread and `what`, to look into a comparison that failed; else nothing.
pub fn keep(what: &str, rate: u32, samples: &[f32]) {
    let Some(dir) = std::env::var_os("VIVAVOCE_RIG_KEEP") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-");
    write_wav(&dir.join(format!("{test}-{what}.wav")), rate, 1, samples);
}

/// Writes a 16-bit WAV file.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// A helper process killed when dropped.
pub struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Helper {
    /// Waits for it to finish by itself.
    pub fn wait(mut self) {
        let _ = self.0.wait();
    }
}

/// Plays a WAV file into a sink (e.g. `micfeed`, the default microphone's input).
pub fn play_into(sink: &str, wav: &Path) -> Helper {
    Helper(spawn_helper(
        Command::new("pw-play").args(["--target", sink]).arg(wav),
    ))
}

/// A real echo path: what the speaker plays comes back into the microphone `delay_ms`
/// later.
pub async fn echo_path(delay_ms: u32) -> Helper {
    let child = spawn_helper(
        Command::new("pw-loopback")
            .args(["-d", &format!("{}", f64::from(delay_ms) / 1000.0)])
            .args([
                "--capture-props",
                "stream.capture.sink=true target.object=speaker node.name=echo-in",
            ])
            .args([
                "--playback-props",
                "target.object=micfeed node.name=echo-out",
            ]),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    Helper(child)
}

/// A `session.update` that turns turn detection off (push-to-talk).
pub fn push_to_talk_session() -> vivavoce::realtime::events::SessionUpdate {
    use vivavoce::realtime::Session;
    use vivavoce::realtime::events::SessionUpdate;
    SessionUpdate::new(Session::default().push_to_talk())
}

/// Keeps every core busy at a real-time priority above cpal's callback thread (which is
/// not real-time) and below the audio server's, for `how_long`. Says whether the system
/// allowed it.
pub fn starve(how_long: Duration) -> bool {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads: Vec<_> = (0..cores)
        .map(|core| {
            std::thread::spawn(move || {
                // SAFETY: plain system calls on the calling thread with valid arguments.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(core, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                    let param = libc::sched_param { sched_priority: 5 };
                    if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) != 0 {
                        return false;
                    }
                }
                let t0 = Instant::now();
                while t0.elapsed() < how_long {
                    std::hint::spin_loop();
                }
                true
            })
        })
        .collect();
    threads.into_iter().all(|t| t.join().unwrap())
}
